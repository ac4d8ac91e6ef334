"""Per-job cases: email and SMS jobs/s, enqueue → accepted latency, and the worker's footprint.

Each repetition runs every side on a fresh stack of its own (dev server, sink, worker process), so none
inherits another's database. Conveyor's side enqueues real email jobs through `Jobs` (search attributes, id
policies and all) and its worker sends them to the sink over SMTP. Two raw baselines run on a worker built with
the same settings (`bench.raw`): a workflow of one trivial activity, and the trivial activity alone started as a
standalone activity (`client.start_activity`) — the least Temporal can do per job either way. SMS jobs are held
to the same baselines: they go through `Jobs.sms` to the outbox provider (one line appended to a file, the least
a provider can cost), with the SMS rate limit lifted, since the rate is the provider's to set, not a cost of
Conveyor's. The Celery peer (`bench.peer`, full runs only) sends the same email job to the same kind of sink.
A team's own trivial `@job` (`bench.team_job`, hosted by `conveyor worker --jobs`) is held to the raw standalone
activity, and its sync `.enqueue()` (what a Django view calls) to `Jobs.enqueue` per call.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import ActivityHandle, Client

from bench import peer
from bench.figures import Row, Spread, percentile
from bench.harness import BIN, Sink, bench_settings, rss_mb, scratch, temporal, worker
from bench.raw import RAW_ACTIVITY, RAW_WORKFLOW
from conveyor import Jobs, job
from conveyor.client import activity_result
from conveyor.settings import Settings
from conveyor.team_jobs import JobFunction


def team_job() -> JobFunction[[str], Coroutine[Any, Any, str]]:
    """The `@job` side's kind, imported when that side runs: importing it registers a kind, which a process that
    only imports the bench (its tests) must not gain."""
    from bench.team_job import bench_trivial

    return bench_trivial


@dataclass(frozen=True)
class RawActivity:
    """A raw standalone activity, waited on as `JobHandle.result` waits on one (the SDK's poll time-out polled
    again: both sides would otherwise end the bench on it under load)."""

    handle: ActivityHandle[Any]

    async def result(self) -> Any:
        return await activity_result(self.handle)


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
    enqueue_sync_ms: list[float] | None = None
    """Per call, a `@job`'s blocking `.enqueue()` (the `@job` side only)."""
    enqueue_async_ms: list[float] | None = None
    """Per call, `await Jobs.enqueue(...)` of the same job, in the same run (the `@job` side only)."""


CONVEYOR, SMS, RAW, STANDALONE = "conveyor", "conveyor sms", "raw workflow", "raw standalone activity"
TEAM = "@job"
SIDES = (CONVEYOR, SMS, RAW, STANDALONE)
"""The sides that run on a stack of their own (the `@job` side runs on the email side's)."""


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
        return RawActivity(
            await client.start_activity(
                RAW_ACTIVITY,
                f"job {i}",
                id=f"raw-{uuid.uuid4().hex}",
                task_queue=settings.task_queue,
                start_to_close_timeout=timedelta(seconds=30),
            )
        )

    async def team(i: int) -> Any:
        return await team_job().aenqueue(f"job {i}")

    return {CONVEYOR: email, SMS: sms, RAW: raw, STANDALONE: standalone, TEAM: team}[side]


async def enqueue_latencies(client: Client, settings: Settings, calls: int) -> tuple[list[float], list[float]]:
    """Per-call ms of `calls` blocking `bench_trivial.enqueue(...)` and of as many `await Jobs.enqueue(...)`,
    alternating, each on a client connected before timing starts."""
    jobs = Jobs(client, settings)
    bench_trivial = team_job()
    blocking: list[float] = []
    awaited: list[float] = []

    def one_sync(i: int) -> float:
        began = time.monotonic()
        bench_trivial.enqueue(f"sync {i}")
        return (time.monotonic() - began) * 1000

    await asyncio.to_thread(one_sync, -1)  # connects the shared client
    for i in range(calls):
        blocking.append(await asyncio.to_thread(one_sync, i))
        began = time.monotonic()
        await jobs.enqueue(bench_trivial.name, {"value": f"async {i}"})
        awaited.append((time.monotonic() - began) * 1000)
    return blocking, awaited


async def timed(start: Start, jobs: int, sequential: int) -> tuple[float, list[float]]:
    """`jobs` started at once and awaited (jobs/s), then `sequential` one after another (ms each)."""
    began = time.monotonic()
    handles = await asyncio.gather(*(start(i) for i in range(jobs)))
    await asyncio.gather(*(h.result() for h in handles))
    per_second = jobs / (time.monotonic() - began)
    latencies: list[float] = []
    for i in range(sequential):
        began = time.monotonic()
        await (await start(jobs + i)).result()
        latencies.append((time.monotonic() - began) * 1000)
    return per_second, latencies


async def run_side(side: str, jobs: int, sequential: int) -> dict[str, Side]:
    """One side on a fresh stack; the email side's worker also hosts the `@job` side, measured on the same stack
    once email's figures are taken (one stack's start-up less per repetition; the `@job` burst then runs on a
    database already holding the email jobs, which can only slow it)."""
    with scratch() as home, Sink() as sink:
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = bench_settings(home, sink.port, task_queue=queue, sms_task_queue=f"{queue}-sms")
        async with temporal(settings) as client:
            command: tuple[str, ...] = () if side in (CONVEYOR, SMS) else (sys.executable, "-m", "bench.raw")
            if side == CONVEYOR:
                command = (str(BIN / "conveyor"), "worker", "--jobs", "bench.team_job")
            async with worker(client, settings, *command) as proc:
                idle_mb = rss_mb(proc.pid)[0]
                per_second, latencies = await timed(starter(client, settings, side), jobs, sequential)
                after_mb = rss_mb(proc.pid)[1]  # the peak (VmHWM) over the burst: the stricter figure
                also: dict[str, Side] = {}
                if side == CONVEYOR:
                    job.configure(settings)
                    try:
                        team_rate, team_latencies = await timed(starter(client, settings, TEAM), jobs, sequential)
                        blocking, awaited = await enqueue_latencies(client, settings, sequential)
                    finally:
                        job.configure(None)
                    also[TEAM] = Side(team_rate, team_latencies, idle_mb, after_mb, 0, blocking, awaited)
        texts = settings.sms_outbox.read_text().count("\n") if settings.sms_outbox.exists() else 0
    return {side: Side(per_second, latencies, idle_mb, after_mb, sink.count + texts), **also}


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
    sides: dict[str, list[Side]] = {side: [] for side in (*SIDES, TEAM)}
    skipped = None if with_peer else "skipped (--quick)"
    skipped = skipped or peer.celery_missing()
    celery: list[Side] = []
    for rep in range(reps):
        for side in SIDES[rep % len(SIDES) :] + SIDES[: rep % len(SIDES)]:
            for name, ran in (await run_side(side, jobs, sequential)).items():
                if name in (CONVEYOR, SMS) and ran.delivered != jobs + sequential:
                    raise RuntimeError(f"{name}: {ran.delivered} delivered, expected {jobs + sequential}")
                sides[name].append(ran)
        if skipped is None:
            celery.append(await asyncio.to_thread(celery_side, jobs, sequential, timeout))
    if skipped:
        print(f"notice: Celery peer {skipped}", file=sys.stderr)
    ours, texts, raw, alone, team = sides[CONVEYOR], sides[SMS], sides[RAW], sides[STANDALONE], sides[TEAM]

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
        Row(f"@job jobs/s vs raw standalone activity ({jobs:,})", "/s", spread(jobs_per_s, team),
            spread(jobs_per_s, alone), "raw standalone act.", "≥ 0.85x", lambda r: (r.ratio or 0) >= 0.85),
        Row(f"@job .enqueue() sync p50 vs Jobs.enqueue ({sequential} seq.)", "ms",
            spread(lambda s: percentile(s.enqueue_sync_ms or [], 50), team),
            spread(lambda s: percentile(s.enqueue_async_ms or [], 50), team), "await Jobs.enqueue", "≤ 1.1x",
            lambda r: (r.ratio or 99) <= 1.1),
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
