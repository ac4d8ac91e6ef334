"""What the dev server shows started on a test's own task queues, read only once that is complete.

"Nothing else was started" is only worth asserting after a late start could have shown. Visibility is updated
asynchronously, so each such check enqueues a **sentinel** (a job delayed by a day, so it never runs) *after* the
refused input and reads the queues once the sentinel shows: whatever the refused input started would show by then.
Jobs of both shapes (workflows and standalone activities) are seen, through `tests.waiting.started_on`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from conveyor import EmailJob, Jobs, Settings
from conveyor.operations import bounded
from tests.waiting import eventually, started_on
from worker.build import served_queues

SENTINEL = EmailJob(to=["sentinel@example.com"], subject="sentinel", text="never sent: delayed by a day")


async def jobs_on(client: Client, settings: Settings) -> set[str]:
    """Ids of the jobs on the test's task queues (every run, open or closed, of either shape)."""
    return await started_on(client, served_queues(settings))


async def after_sentinel(
    client: Client, settings: Settings, sentinel: str, timeout: float = 20, expected: frozenset[str] = frozenset()
) -> set[str]:
    """The ids on the test's queues once `sentinel` (a job id enqueued after everything else) shows, and every
    `expected` id too (visibility shows many concurrent starts in no particular order), without the sentinel."""
    ids = await eventually(
        lambda: jobs_on(client, settings), lambda ids: sentinel in ids and expected <= ids, timeout=timeout
    )
    return ids - {sentinel}


async def sentinel(jobs: Jobs) -> str:
    """Enqueue a sentinel job through `jobs`; its id."""
    return (await jobs.email(SENTINEL, delay=timedelta(days=1))).id


async def started_besides(jobs: Jobs, expected: frozenset[str] = frozenset()) -> set[str]:
    """What was started on `jobs`' queues before now (a sentinel enqueued now marks the moment; the `expected` ids,
    e.g. many accepted at once, are waited for too), sentinel excluded and terminated."""
    marker = await sentinel(jobs)
    ids = await after_sentinel(jobs.client, jobs.settings, marker, expected=expected)
    await terminate(jobs, {marker})
    return ids


async def terminate(jobs: Jobs, ids: set[str]) -> None:
    """End these jobs (of either shape), so later listings and stats see none of them."""

    async def end(job_id: str) -> None:
        await (await jobs.locate(job_id)).execution.terminate(reason="test cleanup")

    await bounded(ids, end, concurrency=20)
