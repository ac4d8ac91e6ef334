"""What the dev server shows started on a test's own task queues, read only once that is complete.

"Nothing else was started" is only worth asserting after a late start could have shown. Visibility is updated
asynchronously, so each such check enqueues a **sentinel** (a job delayed by a day, so it never runs) *after* the
refused input and reads the queues once the sentinel shows: whatever the refused input started would show by then.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from conveyor import EmailJob, Jobs, Settings
from conveyor.operations import bounded
from tests.waiting import eventually
from worker.main import task_queues

SENTINEL = EmailJob(to=["sentinel@example.com"], subject="sentinel", text="never sent: delayed by a day")


async def workflows_on(client: Client, settings: Settings) -> set[str]:
    """Ids of the workflows on the test's task queues (every run, open or closed)."""
    queues = " OR ".join(f"TaskQueue = '{name}'" for name in task_queues(settings))
    return {w.id async for w in client.list_workflows(queues)}


async def after_sentinel(client: Client, settings: Settings, sentinel: str, timeout: float = 20) -> set[str]:
    """The ids on the test's queues once `sentinel` (a job id enqueued after everything else) shows, without it."""
    ids = await eventually(lambda: workflows_on(client, settings), lambda ids: sentinel in ids, timeout=timeout)
    return ids - {sentinel}


async def sentinel(jobs: Jobs) -> str:
    """Enqueue a sentinel job through `jobs`; its id."""
    return (await jobs.email(SENTINEL, delay=timedelta(days=1))).id


async def started_besides(jobs: Jobs) -> set[str]:
    """What was started on `jobs`' queues before now (a sentinel enqueued now marks the moment), sentinel excluded
    and terminated."""
    marker = await sentinel(jobs)
    ids = await after_sentinel(jobs.client, jobs.settings, marker)
    await jobs.client.get_workflow_handle(marker).terminate("sentinel")
    return ids


async def terminate(client: Client, ids: set[str]) -> None:
    """End these workflows, so later listings and stats see none of them."""
    await bounded(ids, lambda i: client.get_workflow_handle(i).terminate("test cleanup"), concurrency=20)
