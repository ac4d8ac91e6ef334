"""Flow control per key: at most one job per customer runs at once, across workers, in both shapes; a worker
killed while its job holds the slot gives it back within the job's heartbeat time-out, and every job runs once.

All real: the dev server, in-process workers and `conveyor worker` subprocesses killed with SIGKILL; the jobs
record their start and end in a file (`tests/flow_jobs.py`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts.flow import Debounce, GateState, PerKey, Throttle, Timing, gate_id
from contracts.kinds import KINDS, JobKind, Shape
from contracts.states import JobState
from conveyor import InvalidJobError, Jobs, Settings
from conveyor.cli.ops import job_row
from conveyor.client import JobHandle
from conveyor.team_jobs import duration
from tests.reliability.processes import worker_process
from tests.waiting import eventually
from worker.build import build_workers, workflow_runner
from worker.flow_slots import FlowSlots
from worker.run import running
from workflows.one_step import OneStepJob


@pytest.fixture
def flow_jobs() -> Iterator[ModuleType]:
    """The test module of limited `@job` kinds, registered for the test and withdrawn after."""
    import tests.flow_jobs as module

    yield module
    for name in module.KIND_NAMES:
        KINDS.remove(KINDS[name])
    del sys.modules["tests.flow_jobs"]


def read(record: Path) -> list[dict[str, Any]]:
    """The starts and ends the jobs recorded, in the order they were written."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


def runs(events: list[dict[str, Any]]) -> dict[str, list[tuple[float, float | None]]]:
    """Each job's attempts as (start, end) times; end None for an attempt that never ended (its worker died)."""
    by_job: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for e in events:
        if e["event"] == "start":
            by_job[e["job"]].append((e["t"], None))
        else:
            start, _ = by_job[e["job"]].pop()
            by_job[e["job"]].append((start, e["t"]))
    return by_job


def overlaps(events: list[dict[str, Any]], until: float) -> list[tuple[str, str]]:
    """Pairs of jobs of the same customer whose attempts overlapped (an attempt that never ended lasts `until`)."""
    customer = {e["job"]: e["customer"] for e in events}
    spans = sorted((s, e or until, job) for job, attempts in runs(events).items() for s, e in attempts)
    found: list[tuple[str, str]] = []
    last_end: dict[str, tuple[float, str]] = {}
    for start, end, job in spans:
        previous = last_end.get(customer[job])
        if previous is not None and start < previous[0]:
            found.append((previous[1], job))
        last_end[customer[job]] = max((end, job), previous or (0.0, ""))
    return found


@pytest.mark.parametrize(("kind", "count"), [("flow_sync", 50), ("flow_sync_flow", 20)])
async def test_one_job_per_customer_at_a_time_across_two_workers(
    temporal_env: WorkflowEnvironment, settings: Settings, flow_jobs: ModuleType, tmp_path: Path, kind: str, count: int
) -> None:
    """`count` jobs on 5 customers, one at a time per customer: as a one-step job and as a workflow (whose step
    is an unlimited job kind: the workflow holds the slot)."""
    record = tmp_path / "record.jsonl"
    jobs = Jobs(temporal_env.client, settings)
    other = worker_process(settings, tmp_path / "worker.log", CONVEYOR_JOBS="tests.flow_jobs")
    async with other, running(build_workers(temporal_env.client, settings)):
        handles = [
            await jobs.enqueue(kind, {"customer": f"c{n % 5}", "n": n, "record": str(record)}) for n in range(count)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    events = read(record)
    assert sorted(r.root if hasattr(r, "root") else r for r in results) == list(range(count))
    assert {job: len(a) for job, a in runs(events).items()} == {e["job"]: 1 for e in events}  # each ran once
    assert overlaps(events, time.time()) == []
    assert len({e["customer"] for e in events}) == 5


async def test_waiting_job_shows_its_key_and_place(
    temporal_env: WorkflowEnvironment, settings: Settings, flow_jobs: ModuleType, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    jobs = Jobs(temporal_env.client, settings)
    async with running(build_workers(temporal_env.client, settings)):
        release = tmp_path / "release"  # the first job holds the key's slot until the test has looked
        first = await jobs.enqueue(
            "flow_sync", {"customer": "busy", "n": 0, "record": str(record), "until": str(release)}
        )
        await eventually(lambda: asyncio.to_thread(read, record), lambda events: len(events) >= 1)
        later = [await jobs.enqueue("flow_sync", {"customer": "busy", "n": n, "record": str(record)}) for n in (1, 2)]
        last = await eventually(lambda: jobs.status(later[1].id), lambda s: s.detail == "1 ahead")
        assert last.state is JobState.QUEUED
        assert last.stage == "waiting for busy"
        listed = await eventually(
            lambda: jobs.list(kind="flow_sync", key=None), lambda rows: {r.id for r in rows} >= {later[1].id}
        )
        waiting = {r.id: r for r in listed}[later[1].id]
        assert (waiting.state, waiting.waiting_for) == (JobState.QUEUED, "busy")
        assert [cell for cell in job_row(waiting) if cell.startswith("queued")] == ["queued (waiting for busy)"]
        assert (await jobs.status(first.id)).state is JobState.RUNNING
        release.touch()
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in [first, *later])), 60)
    assert [e["n"] for e in read(record) if e["event"] == "start"] == [0, 1, 2]  # in the order they came


async def test_killed_worker_gives_the_slot_back_within_its_heartbeat_timeout(
    temporal_env: WorkflowEnvironment, settings: Settings, flow_jobs: ModuleType, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    jobs = Jobs(temporal_env.client, settings)
    heartbeat = duration(flow_jobs.HEARTBEAT).total_seconds()
    env = {"CONVEYOR_JOBS": "tests.flow_jobs"}
    async with (
        worker_process(settings, tmp_path / "a.log", **env) as a,
        worker_process(settings, tmp_path / "b.log", **env) as b,
    ):
        handles = [
            await jobs.enqueue("flow_sync", {"customer": "k", "n": n, "record": str(record), "seconds": 1.5})
            for n in range(4)
        ]
        [first] = await eventually(lambda: asyncio.to_thread(read, record), lambda events: len(events) >= 1, 60)
        await {a.pid: a, b.pid: b}[first["pid"]].kill()  # the worker whose job holds customer k's slot, mid-job
        killed_at = time.time()
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
        gate = temporal_env.client.get_workflow_handle(gate_id("flow_sync", "k"))
        slots = await eventually(lambda: gate.query("slots", result_type=GateState), lambda s: not s.holders)
        assert slots.waiting == []
    events = read(record)
    assert sorted(r.root if hasattr(r, "root") else r for r in results) == [0, 1, 2, 3]
    attempts = runs(events)
    assert sum(1 for a in attempts.values() for _, end in a if end is not None) == 4  # every job ended once
    [cut] = [(job, s) for job, a in attempts.items() for s, end in a if end is None]  # the attempt that died
    resumed = min(s for job, a in attempts.items() for s, _ in a if s > killed_at)
    assert resumed - killed_at < heartbeat + 3  # the slot was back within the heartbeat time-out (and a retry wait)
    assert overlaps([e for e in events if not (e["job"] == cut[0] and e["t"] == cut[1])], time.time()) == []


async def test_a_burst_of_1000_debounced_enqueues_runs_once_with_the_last_input(
    flow_jobs: ModuleType, time_jobs: Jobs, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"

    async def offer(n: int) -> JobHandle:
        return await time_jobs.enqueue("flow_debounced", {"customer": "c1", "n": n, "record": str(record)})

    for first in range(0, 999, 111):  # in bursts of 111 at once, then the last one alone
        await asyncio.gather(*(offer(n) for n in range(first, first + 111)))
    gate = await offer(999)
    assert gate.id == gate_id("flow_debounced", "c1", Timing.DEBOUNCE)
    ended = await asyncio.wait_for(gate.result(), 60)  # the 30 s of quiet pass in an instant (time-skipping)
    assert ended.offers == 1000
    [started] = ended.started
    assert (await asyncio.wait_for(time_jobs.result(started), 60)).root == 999
    assert [e["n"] for e in read(record)] == [999, 999]  # one run (its start and its end), with the last input


async def test_throttled_enqueues_run_at_most_once_per_window(
    flow_jobs: ModuleType, time_env: WorkflowEnvironment, time_jobs: Jobs, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    began = await time_env.get_current_time()
    for n in range(100):  # 100 enqueues over 30 s of the server's time (skipped), with a 10 s window
        await time_env.sleep(
            max(0.0, (began + timedelta(seconds=0.3 * n) - await time_env.get_current_time()).total_seconds())
        )
        gate = await time_jobs.enqueue("flow_throttled", {"customer": "c1", "n": n, "record": str(record)})
    ended = await asyncio.wait_for(gate.result(), 60)
    assert ended.offers == 100 and len(ended.started) in (3, 4)
    ran = [(await asyncio.wait_for(time_jobs.result(job_id), 60)).root for job_id in ended.started]
    assert ran[0] == 0 and ran[-1] == 99  # the first at once, the latest offered last
    assert sorted(e["n"] for e in read(record) if e["event"] == "end") == sorted(ran)


async def test_a_debounced_job_takes_no_key(flow_jobs: ModuleType, time_jobs: Jobs, tmp_path: Path) -> None:
    with pytest.raises(InvalidJobError, match="debounced per key"):
        await time_jobs.enqueue("flow_debounced", {"customer": "c", "n": 1, "record": str(tmp_path)}, key="k")


def test_per_key_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="limit"):
        PerKey("customer", limit=0)
    with pytest.raises(ValueError, match="field"):
        PerKey("not a field")
    with pytest.raises(ValueError, match="positive"):
        Debounce("customer", wait=timedelta(0))
    with pytest.raises(ValueError, match="not both"):
        JobKind(
            name="both", runs_as="both", request=GateState, result=GateState, policy="alert", shape=Shape.WORKFLOW,
            debounce=Debounce("key", timedelta(seconds=1)), throttle=Throttle("key", timedelta(seconds=1)),
        )  # fmt: skip


LIMITED_HISTORIES = sorted((Path(__file__).parent / "histories" / "flow").glob("*.json"))
"""Recorded limited jobs (`flow_sync`, as the one-step workflow: two that waited their turn and one cancelled in
line). They replay with the interceptor that holds them to their slots and the kinds of `tests.flow_jobs`."""


@pytest.mark.parametrize("path", LIMITED_HISTORIES, ids=lambda p: p.stem)
async def test_limited_job_history_replays(path: Path, flow_jobs: ModuleType) -> None:
    replayer = Replayer(
        workflows=[OneStepJob],
        interceptors=[FlowSlots()],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner([flow_jobs.FlowSyncFlow]),
    )
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
