"""Jobs limited per key, for the flow-control tests: each records when it starts and ends (and in which process)
in a JSON-lines file, so a test reads back whether two jobs of one key ever overlapped.

A module of `@job` functions like a team's: the tests import it (registering its kinds), and a `conveyor worker`
subprocess gets it through `CONVEYOR_JOBS=tests.flow_jobs`.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from temporalio import workflow

from contracts.flow import Debounce, PerKey, Throttle
from conveyor import job
from conveyor.team_workflows import JobWorkflow

HEARTBEAT = "2s"
"""How soon a killed worker's job is noticed (and retried elsewhere): short, so the kill test is quick."""


class Sync(BaseModel):
    """One customer's sync: which customer, which of its jobs, where to record, how long it takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer: str
    n: int
    record: str
    seconds: float = 0.05
    until: str | None = None
    """A file whose creation by the test ends the job (at most 60 s after it started), instead of `seconds`."""


def recorded(sync: Sync) -> int:
    """Record the start, take `seconds` (or wait for `until`), record the end; returns `n`."""
    log = Path(sync.record)
    note = {"job": job.current_id(), "customer": sync.customer, "n": sync.n, "pid": os.getpid()}
    with log.open("a") as out:
        out.write(json.dumps(note | {"event": "start", "t": time.time()}) + "\n")
    if sync.until is None:
        time.sleep(sync.seconds)  # noqa: sleep-ok (the job's own work, holding its key's slot)
    deadline = time.monotonic() + 60
    while sync.until is not None and not Path(sync.until).exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # noqa: sleep-ok (the job's own wait for the test's release, in the worker)
    with log.open("a") as out:
        out.write(json.dumps(note | {"event": "end", "t": time.time()}) + "\n")
    return sync.n


@job(concurrency=PerKey("customer", limit=1), heartbeat=HEARTBEAT, first_retry="100ms", attempts=5)
def flow_sync(sync: Sync) -> int:
    """A one-step job, one per customer at a time."""
    return recorded(sync)


@job(heartbeat=HEARTBEAT, first_retry="100ms", attempts=5)
def flow_step(sync: Sync) -> int:
    """The step of `FlowSyncFlow` (not limited itself: its workflow is)."""
    return recorded(sync)


@job.workflow(concurrency=PerKey(lambda sync: sync.customer, limit=1))
@workflow.defn
class FlowSyncFlow(JobWorkflow):
    """A workflow-shaped job, one per customer at a time (its key a function of the input)."""

    @workflow.run
    async def run(self, sync: Sync) -> int:
        """One step."""
        return await flow_step.step(sync)


@job(debounce=Debounce("customer", wait=timedelta(seconds=30)), first_retry="100ms")
def flow_debounced(sync: Sync) -> int:
    """Run once per customer, with the latest input, after 30 s without a new one."""
    return recorded(sync)


@job(throttle=Throttle("customer", every=timedelta(seconds=10)), first_retry="100ms")
def flow_throttled(sync: Sync) -> int:
    """Run at most once per 10 s per customer."""
    return recorded(sync)


KIND_NAMES = ("flow_sync", "flow_step", "flow_sync_flow", "flow_debounced", "flow_throttled")
