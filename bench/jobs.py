"""Per-job cases: email jobs/s, enqueue → SMTP-accepted latency, and the worker's footprint.

Each repetition runs both sides on a fresh stack of their own (dev server, sink, worker process), so neither
inherits the other's database. Conveyor's side enqueues real `SendEmail` jobs through `Jobs` (search
attributes, id policies and all) and its worker sends them to the sink over SMTP; the baseline starts raw
workflows of one trivial activity on a worker built with the same settings (`bench.raw`).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from bench.figures import Row, Spread, percentile
from bench.harness import Sink, bench_settings, rss_mb, scratch, temporal, worker
from bench.raw import RAW_WORKFLOW
from conveyor import Jobs
from conveyor.settings import Settings

Start = Callable[[int], Awaitable[Any]]
"""Starts job number i; returns something with an awaitable `result()`."""


@dataclass
class Side:
    """One repetition of one side."""

    per_second: float
    latencies_ms: list[float]
    idle_mb: float
    after_mb: float
    delivered: int


def starter(client: Client, settings: Settings, conveyor: bool) -> Start:
    """How one side starts job `i`: `Jobs.email` with a template, or a raw `start_workflow`."""
    jobs = Jobs(client, settings)

    async def email(i: int) -> Any:
        job = {"to": [f"reader{i}@example.com"], "template": "welcome", "context": {"name": f"Reader {i}"}}
        return await jobs.email(job)

    async def raw(i: int) -> Any:
        return await client.start_workflow(
            RAW_WORKFLOW, f"job {i}", id=f"raw-{uuid.uuid4().hex}", task_queue=settings.task_queue
        )

    return email if conveyor else raw


async def run_side(conveyor: bool, jobs: int, sequential: int) -> Side:
    """`jobs` started at once and awaited, then `sequential` jobs one after another, on a fresh stack."""
    with scratch() as home, Sink() as sink:
        settings = bench_settings(home, sink.port, task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        async with temporal(settings) as client:
            command = () if conveyor else (sys.executable, "-m", "bench.raw")
            async with worker(client, settings, *command) as proc:
                idle_mb = rss_mb(proc.pid)[0]
                start = starter(client, settings, conveyor)
                began = time.monotonic()
                handles = await asyncio.gather(*(start(i) for i in range(jobs)))
                await asyncio.gather(*(h.result() for h in handles))
                per_second = jobs / (time.monotonic() - began)
                after_mb = rss_mb(proc.pid)[1]  # the peak (VmHWM) over the burst: the stricter figure
                latencies: list[float] = []
                for i in range(sequential):
                    began = time.monotonic()
                    await (await start(jobs + i)).result()
                    latencies.append((time.monotonic() - began) * 1000)
    return Side(per_second, latencies, idle_mb, after_mb, sink.count)


async def measure(jobs: int, sequential: int, reps: int) -> list[Row]:
    """The email-throughput, latency and footprint rows, over `reps` repetitions (sides alternate first)."""
    sides: dict[bool, list[Side]] = {True: [], False: []}
    for rep in range(reps):
        for conveyor in (rep % 2 == 0, rep % 2 == 1):
            side = await run_side(conveyor, jobs, sequential)
            if conveyor and side.delivered != jobs + sequential:
                raise RuntimeError(f"the sink received {side.delivered} emails, expected {jobs + sequential}")
            sides[conveyor].append(side)
    ours, raw = sides[True], sides[False]

    def spread(of: Callable[[Side], float], runs: list[Side]) -> Spread:
        return Spread([of(s) for s in runs])

    def p50(s: Side) -> float:
        return percentile(s.latencies_ms, 50)

    def p99(s: Side) -> float:
        return percentile(s.latencies_ms, 99)

    def jobs_per_s(s: Side) -> float:
        return s.per_second

    def idle(s: Side) -> float:
        return s.idle_mb

    def after(s: Side) -> float:
        return s.after_mb

    return [
        Row(f"email jobs/s ({jobs:,} at once)", "/s", spread(jobs_per_s, ours), spread(jobs_per_s, raw),
            "raw wf+activity", "≥ 0.9x", lambda r: (r.ratio or 0) >= 0.9),
        Row(f"enqueue → SMTP accepted p50 ({sequential} seq.)", "ms", spread(p50, ours), spread(p50, raw),
            "raw start→result", "≤ 150 ms, ≤ 1.2x",
            lambda r: r.conveyor.median <= 150 and (r.ratio or 99) <= 1.2),
        Row(f"enqueue → SMTP accepted p99 ({sequential} seq.)", "ms", spread(p99, ours), spread(p99, raw),
            "raw start→result"),
        Row("worker RSS idle", "MB", spread(idle, ours), spread(idle, raw), "raw worker", "≤ 120 MB",
            lambda r: r.conveyor.median <= 120),
        Row(f"worker peak RSS over {jobs:,} jobs", "MB", spread(after, ours), spread(after, raw), "raw worker",
            "≤ 200 MB", lambda r: r.conveyor.median <= 200),
    ]  # fmt: skip
