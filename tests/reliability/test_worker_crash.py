"""A worker killed with SIGKILL in the middle of a batch: nothing is lost, and any email sent twice carries the
same Message-ID both times, so the receiving side can drop the copy.

All real: the dev server, `conveyor worker` subprocesses, the SMTP server. A send the dead worker held is retried
after the email row's 10 s heartbeat timeout (`workflows/policies.py`), not its 2 minute attempt timeout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType
from temporalio.client import ActivityExecutionDescription, ActivityHandle
from temporalio.client import PendingActivityState as ActivityRunState
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import Jobs
from conveyor.client import BulkJob, JobHandle
from tests.conftest import settings_for
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.mail import delivered, message_ids, note, recipients
from tests.reliability.processes import worker_process
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from workflows.policies import POLICIES


async def in_flight(handles: list[JobHandle]) -> list[JobHandle]:
    """Jobs whose send had been handed to a worker and not reported done (the worker is dead: this holds still)."""

    async def started(handle: JobHandle) -> bool:
        desc = await handle.execution.describe()
        if isinstance(desc, ActivityExecutionDescription):  # the job is the activity
            return desc.run_state == ActivityRunState.STARTED
        pending = desc.raw_description.pending_activities
        return any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for a in pending)

    flags = await asyncio.gather(*(started(h) for h in handles))
    return [h for h, flag in zip(handles, flags, strict=True) if flag]


async def retry_cause(handle: JobHandle) -> tuple[int, TimeoutType.ValueType | None]:
    """The attempt the job's send is at, and the kind of time-out that ended the attempt before (None if none)."""
    execution = handle.execution
    desc = await (
        execution.describe(include_last_failure=True) if isinstance(execution, ActivityHandle) else execution.describe()
    )
    if isinstance(desc, ActivityExecutionDescription):
        failure = desc.raw_info.last_failure
        attempt = desc.attempt
    else:
        [pending] = desc.raw_description.pending_activities
        failure, attempt = pending.last_failure, pending.attempt
    timed_out = failure.HasField("timeout_failure_info")
    return attempt, failure.timeout_failure_info.timeout_type if timed_out else None


HEARTBEAT_RETRY_WAIT = 60.0
"""How long the dead worker's sends may take to be handed back for retry: between the email row's 10 s heartbeat
time-out and its 2 minute attempt time-out, so a send that only the attempt time-out frees fails the test."""


@pytest.mark.parametrize("shape", Shape)
async def test_worker_killed_mid_batch_loses_nothing(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, size: Size, shape: Shape
) -> None:
    """kill -9 mid-job, as the OOM killer does (celery#7924, celery#1628: `acks_late` tasks of a killed worker lost
    or held until Redis's visibility timeout; bullmq#439: stalled jobs): every job completes, and a send the dead
    worker held is retried within the heartbeat time-out, any copy with its first send's Message-ID."""
    n = size.crash_jobs
    settings = settings_for(temporal_env, smtp_server, tmp_path, standalone_activities=shape is Shape.ACTIVITY)
    jobs = Jobs(temporal_env.client, settings)
    to = recipients("crash", n)
    began = time.monotonic()
    async with worker_process(settings, tmp_path / "worker-1.log") as first:
        results = await jobs.bulk([BulkJob("email", note(address)) for address in to])
        handles = [h for h in results if isinstance(h, JobHandle)]
        assert len(handles) == n and {h.shape for h in handles} == {shape}
        await eventually(lambda: delivered(smtp_server, to), lambda d: d >= n // 3, size.timeout)
        await first.kill()
    delivered_at_kill = await delivered(smtp_server, to)
    assert delivered_at_kill < n, "the kill came after every email was sent: nothing was tested"
    flying = await in_flight(handles)
    assert flying, "no send was in flight at the kill: the retry of one was not tested"
    row = POLICIES["email"]
    assert row.heartbeat_timeout is not None and row.heartbeat_timeout.total_seconds() < HEARTBEAT_RETRY_WAIT
    assert row.attempt_timeout.total_seconds() > HEARTBEAT_RETRY_WAIT
    # Before any worker is back: each send the dead worker held is handed back for a second attempt, freed by the
    # heartbeat time-out (the server says which time-out it was), not by the attempt time-out.
    causes = await eventually(
        lambda: asyncio.gather(*(retry_cause(h) for h in flying)),
        lambda found: all(attempt >= 2 for attempt, _ in found),
        timeout=HEARTBEAT_RETRY_WAIT,
    )
    assert set(causes) == {(2, TimeoutType.TIMEOUT_TYPE_HEARTBEAT)}, causes

    async with worker_process(settings, tmp_path / "worker-2.log"):
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles), return_exceptions=True), size.timeout
        )
    failed = sum(isinstance(o, BaseException) for o in outcomes)

    ids = message_ids(smtp_server, to)
    lost = n - len(ids)
    duplicated = sum(len(v) - 1 for v in ids.values())
    figures.record(
        f"worker crash (kill -9), {shape.value} shape", jobs=n, delivered_at_kill=delivered_at_kill,
        in_flight_at_kill=len(flying),
        lost=lost, duplicated=duplicated, failed=failed, seconds=round(time.monotonic() - began, 1),
    )  # fmt: skip
    assert lost == 0 and failed == 0 and all(r.accepted for r in outcomes if not isinstance(r, BaseException))
    assert duplicated <= len(flying)
    assert all(len(set(v)) == 1 for v in ids.values()), "a re-sent email keeps its Message-ID"
