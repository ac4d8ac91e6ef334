"""Per-job cases: email and SMS jobs/s, enqueue → accepted latency, and the worker's footprint.

Each repetition runs every side on a fresh stack of its own (dev server, sink, worker process), so none
inherits another's database. Conveyor's side enqueues real email jobs through `Jobs` (search attributes, id
policies and all) and its worker sends them to the sink over SMTP. Two raw baselines run on a worker built with
the same settings (`bench.raw`): a workflow of one trivial activity, and the trivial activity alone started as a
standalone activity (`client.start_activity`) — the least Temporal can do per job either way. SMS jobs are held
to the same baselines: they go through `Jobs.sms` to the outbox provider (one line appended to a file, the least
a provider can cost), with the SMS rate limit lifted, since the rate is the provider's to set, not a cost of
Conveyor's. The Celery peer (`bench.peer`, full runs only) sends the same email job to the same kind of sink.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from bench import peer
from bench.figures import Row, Spread, percentile
from bench.harness import Sink, bench_settings, rss_mb, scratch, temporal, worker
from bench.raw import RAW_ACTIVITY, RAW_WORKFLOW
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


CONVEYOR, SMS, RAW, STANDALONE = "conveyor", "conveyor sms", "raw workflow", "raw standalone activity"
SIDES = (CONVEYOR, SMS, RAW, STANDALONE)


def starter(client: Client, settings: Settings, side: str) -> Start:
    """How one side starts job `i`: `Jobs.email` with a template, `Jobs.sms` (a one-time code), a raw
    `start_workflow`, or a raw `start_activity` of the same trivial activity."""
    jobs = Jobs(client, settings)

    async def email(i: int) -> Any:
        job = {"to": [f"reader{i}@example.com"], "template": "welcome", "context": {"name": f"Reader {i}"}}
        return await jobs.email(job)

    async def sms(i: int) -> Any:
        job = {"to": f"+1202555{i % 10_000:04d}", "body": f"Your code is {i:06d}. It expires in 10 minutes."}
        return await jobs.sms(job)

    async def raw(i: int) -> Any:
        return await client.start_workflow(
            RAW_WORKFLOW, f"job {i}", id=f"raw-{uuid.uuid4().hex}", task_queue=settings.task_queue
        )

    async def standalone(i: int) -> Any:
        return await client.start_activity(
            RAW_ACTIVITY,
            f"job {i}",
            id=f"raw-{uuid.uuid4().hex}",
            task_queue=settings.task_queue,
            start_to_close_timeout=timedelta(seconds=30),
        )

    return {CONVEYOR: email, SMS: sms, RAW: raw, STANDALONE: standalone}[side]


async def run_side(side: str, jobs: int, sequential: int) -> Side:
    """`jobs` started at once and awaited, then `sequential` jobs one after another, on a fresh stack."""
    with scratch() as home, Sink() as sink:
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = bench_settings(home, sink.port, task_queue=queue, sms_task_queue=f"{queue}-sms")
        async with temporal(settings) as client:
            command = () if side in (CONVEYOR, SMS) else (sys.executable, "-m", "bench.raw")
            async with worker(client, settings, *command) as proc:
                idle_mb = rss_mb(proc.pid)[0]
                start = starter(client, settings, side)
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
        texts = settings.sms_outbox.read_text().count("\n") if settings.sms_outbox.exists() else 0
    return Side(per_second, latencies, idle_mb, after_mb, sink.count + texts)


def celery_side(jobs: int, sequential: int, timeout: float) -> Side:
    """The Celery peer's burst and sequential jobs (its worker's footprint is not measured: 0)."""
    with Sink() as sink:
        ran = peer.celery_run("email", sink.port, jobs, sequential, timeout)
    if sink.count < jobs + sequential:
        raise RuntimeError(f"Celery peer: the sink received {sink.count} of {jobs + sequential}")
    return Side(jobs / ran.seconds, ran.latencies_ms, 0.0, 0.0, sink.count)


async def measure(jobs: int, sequential: int, reps: int, with_peer: bool = False, timeout: float = 900) -> list[Row]:
    """The email and SMS throughput and latency rows and the footprint rows, over `reps` repetitions (the sides'
    order rotates)."""
    sides: dict[str, list[Side]] = {side: [] for side in SIDES}
    skipped = None if with_peer else "skipped (--quick)"
    skipped = skipped or peer.celery_missing()
    celery: list[Side] = []
    for rep in range(reps):
        for side in SIDES[rep % len(SIDES) :] + SIDES[: rep % len(SIDES)]:
            ran = await run_side(side, jobs, sequential)
            if side in (CONVEYOR, SMS) and ran.delivered != jobs + sequential:
                raise RuntimeError(f"{side}: {ran.delivered} delivered, expected {jobs + sequential}")
            sides[side].append(ran)
        if skipped is None:
            celery.append(await asyncio.to_thread(celery_side, jobs, sequential, timeout))
    if skipped:
        print(f"notice: Celery peer {skipped}", file=sys.stderr)
    ours, texts, raw, alone = sides[CONVEYOR], sides[SMS], sides[RAW], sides[STANDALONE]

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

    def per_job(kind: str, accepted: str, runs: list[Side]) -> list[Row]:
        """One kind's rows: its jobs/s and its enqueue → accepted latency against both raw baselines."""
        return [
            Row(f"{kind} jobs/s ({jobs:,} at once)", "/s", spread(jobs_per_s, runs), spread(jobs_per_s, raw),
                "raw wf+activity", "≥ 1.5x", lambda r: (r.ratio or 0) >= 1.5),
            Row(f"{kind} jobs/s vs raw standalone activity ({jobs:,})", "/s", spread(jobs_per_s, runs),
                spread(jobs_per_s, alone), "raw standalone act.", "≥ 0.85x", lambda r: (r.ratio or 0) >= 0.85),
            Row(f"enqueue → {accepted} accepted p50 ({sequential} seq.)", "ms", spread(p50, runs), spread(p50, raw),
                "raw start→result", "≤ 0.5x", lambda r: (r.ratio or 99) <= 0.5),
            Row(f"enqueue → {accepted} accepted p50 vs raw standalone ({sequential} seq.)", "ms", spread(p50, runs),
                spread(p50, alone), "raw standalone act.", "≤ 1.2x", lambda r: (r.ratio or 99) <= 1.2),
            Row(f"enqueue → {accepted} accepted p99 ({sequential} seq.)", "ms", spread(p99, runs), spread(p99, raw),
                "raw start→result", "≤ 1.0x", lambda r: (r.ratio or 99) <= 1.0),
            Row(f"enqueue → {accepted} accepted p99 vs raw standalone ({sequential} seq.)", "ms", spread(p99, runs),
                spread(p99, alone), "raw standalone act."),
        ]  # fmt: skip

    return [
        *per_job("email", "SMTP", ours),
        *per_job("SMS", "SMS", texts),
        Row("worker RSS idle", "MB", spread(idle, ours), spread(idle, raw), "raw worker", "≤ 120 MB",
            lambda r: r.conveyor.median <= 120),
        Row(f"worker peak RSS over {jobs:,} jobs", "MB", spread(after, ours), spread(after, raw), "raw worker",
            "≤ 200 MB", lambda r: r.conveyor.median <= 200),
        Row(f"peer: email jobs/s vs Celery ({jobs:,} at once)", "/s", spread(jobs_per_s, ours),
            None if skipped else spread(jobs_per_s, celery), "Celery 5 + Redis", "≥ 0.5x",
            None if skipped else lambda r: (r.ratio or 0) >= 0.5, note=skipped or ""),
        Row(f"peer: enqueue → SMTP accepted p50 vs Celery ({sequential} seq.)", "ms", spread(p50, ours),
            None if skipped else spread(p50, celery), "Celery 5 + Redis", note=skipped or ""),
    ]  # fmt: skip
