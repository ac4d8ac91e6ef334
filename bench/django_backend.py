"""The Django case: Django's task API on Conveyor (`conveyor.contrib.django.TaskBackend`) against Conveyor's own
enqueue of the same job, and its tasks end to end against a team's own trivial `@job`.

Each repetition runs a fresh stack: a dev server and one `conveyor worker --django bench.django_settings --jobs
bench.team_job` hosting both the trivial Django task (`bench.django_task`) and the trivial `@job`. This process
sets the same Django project up (no database) and enqueues:

- end to end: `jobs` tasks (`IN_FLIGHT` at a time) through `task.aenqueue()`, each awaited to its result,
  against as many `bench_trivial.aenqueue()`; the ratio is everything the Django layer adds (its checks, its
  `TaskResult`, the worker's connection handling and the heartbeat carrying the first start);
- enqueue rate, one call after another as a view makes them: `sequential` calls of `task.enqueue()`, then of the
  same job's `@job` `.enqueue()` (the sync path without Django's layer), then of its `await .aenqueue()` (the
  async one), twice over;
- enqueue rate, `jobs` calls `IN_FLIGHT` at a time: `task.aenqueue()` against the same job's `.aenqueue()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import ActivityHandle
from temporalio.service import RPCError, RPCStatusCode

from bench.figures import Row, Spread
from bench.harness import BIN, Sink, bench_settings, scratch, temporal, worker
from bench.jobs import team_job
from conveyor import job
from conveyor.team_jobs import JobFunction

SETTINGS = "bench.django_settings"


@dataclass
class Run:
    """One repetition's rates, per second."""

    django_e2e: float = 0.0
    team_e2e: float = 0.0
    django_sync: float = 0.0
    job_sync: float = 0.0
    job_async: float = 0.0
    django_burst: float = 0.0
    job_burst: float = 0.0
    django_busy: list[int] = field(default_factory=lambda: [0])
    """Waits for a result the server refused as busy (see `outcome`), Django's side and the `@job`'s."""
    team_busy: list[int] = field(default_factory=lambda: [0])


def django_ready() -> tuple[Any, JobFunction[..., Any]]:
    """This process's Django set up with the bench project; its task, and the Conveyor job kind behind it.
    Imported when the case runs: declaring a task registers a kind, which the bench's tests must not gain."""
    import django
    from django.conf import settings

    from bench import django_settings
    from conveyor.contrib.django.kinds import task_job

    if not settings.configured:
        settings.configure(**{name: getattr(django_settings, name) for name in dir(django_settings) if name.isupper()})
        django.setup()
    from bench.django_task import bench_noop

    backend = bench_noop.get_backend()
    return bench_noop, task_job(bench_noop, backend.queues, backend.options)


async def outcome(handle: ActivityHandle[Any], refused: list[int]) -> Any:
    """The job's result, awaited as Temporal's own handle awaits it, asked again when the server ends the wait
    without one: a long poll that expired (a burst here can outlast it), or a refusal as busy (RESOURCE_EXHAUSTED,
    "Workflow is busy": seen here with 1,000 at once under load 15, on both sides), each counted in `refused`."""
    while True:
        try:
            return await handle.result()
        except RPCError as e:
            if e.status not in (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.DEADLINE_EXCEEDED):
                raise
            refused[0] += e.status == RPCStatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.05)  # the server asked to back off


async def rate(calls: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Calls per second of `calls` calls of `one`, one after another."""
    began = time.monotonic()
    for i in range(calls):
        await one(i)
    return calls / (time.monotonic() - began)


IN_FLIGHT = 100
"""Calls a burst keeps in flight: with 1,000 at once the case failed twice here under load 15+ on a call that
outlasted its time-out (the client's "Timeout expired"); a web app's producers are not a thousand callers at once
either."""


async def burst(calls: int, start: Callable[[int], Awaitable[Any]]) -> float:
    """Calls per second of `calls` calls of `start`, `IN_FLIGHT` at a time."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> Any:
        async with slots:
            return await start(i)

    began = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return calls / (time.monotonic() - began)


async def pair(
    flip: bool, first: Callable[[], Awaitable[float]], second: Callable[[], Awaitable[float]]
) -> tuple[float, float]:
    """Both figures of a pair, measured in the other order when `flip` (repetitions alternate it, so neither side
    always runs on the emptier database)."""
    if flip:
        b = await second()
        return await first(), b
    return await first(), await second()


async def run_once(jobs: int, sequential: int, flip: bool) -> Run:
    """One repetition on a fresh stack."""
    from conveyor.contrib.django.calls import TaskCall

    task, same_job = django_ready()
    trivial = team_job()
    ran = Run()
    with scratch() as home, Sink() as sink:
        # Standalone activities declared rather than probed (one count per client, 5 s time-out): the dev server
        # started here runs them, and the probe is no per-job cost.
        settings = bench_settings(home, sink.port, standalone_activities=True)
        async with temporal(settings) as client:
            command = (str(BIN / "conveyor"), "worker", "--django", SETTINGS, "--jobs", "bench.team_job")
            async with worker(client, settings, *command):
                job.configure(settings)
                try:

                    async def django_done(i: int) -> Any:
                        result = await task.aenqueue(f"e2e {i}")
                        return await outcome(client.get_activity_handle(result.id), ran.django_busy)

                    async def team_done(i: int) -> Any:
                        enqueued = await trivial.aenqueue(f"e2e {i}")
                        return await outcome(client.get_activity_handle(enqueued.id), ran.team_busy)

                    async def one_sync(enqueue: Callable[[str], Any], i: int) -> Any:
                        return await asyncio.to_thread(enqueue, f"seq {i}")

                    def job_enqueue(value: str) -> Any:
                        return same_job.enqueue(TaskCall(args=[value]))

                    await asyncio.to_thread(task.enqueue, "warm")  # connects the shared clients
                    await trivial.aenqueue("warm")
                    ran.django_e2e, ran.team_e2e = await pair(
                        flip, lambda: burst(jobs, django_done), lambda: burst(jobs, team_done)
                    )
                    for _ in range(2):  # alternating, so neither side gets the quieter moments
                        ran.django_sync += await rate(sequential, lambda i: one_sync(task.enqueue, i)) / 2
                        ran.job_sync += await rate(sequential, lambda i: one_sync(job_enqueue, i)) / 2
                        ran.job_async += (
                            await rate(sequential, lambda i: same_job.aenqueue(TaskCall(args=[f"seq {i}"]))) / 2
                        )
                    ran.django_burst, ran.job_burst = await pair(
                        flip,
                        lambda: burst(jobs, lambda i: task.aenqueue(f"burst {i}")),
                        lambda: burst(jobs, lambda i: same_job.aenqueue(TaskCall(args=[f"burst {i}"]))),
                    )
                finally:
                    job.configure(None)
    return ran


async def measure(jobs: int, sequential: int, reps: int) -> list[Row]:
    """The Django rows over `reps` repetitions."""
    runs = [await run_once(jobs, sequential, flip=rep % 2 == 1) for rep in range(reps)]
    calls = 2 * sequential

    def spread(of: Callable[[Run], float]) -> Spread:
        return Spread([of(r) for r in runs])

    return [
        Row(f"Django tasks/s end to end ({jobs:,}, {IN_FLIGHT} in flight) vs @job", "/s",
            spread(lambda r: r.django_e2e), spread(lambda r: r.team_e2e), "@job, same worker",
            note=f"result waits refused as busy: Django {sum(r.django_busy[0] for r in runs)}, "
            f"@job {sum(r.team_busy[0] for r in runs)}"),
        Row(f"Django task.enqueue() tasks/s ({calls} seq.) vs @job sync", "/s",
            spread(lambda r: r.django_sync), spread(lambda r: r.job_sync), "@job .enqueue(), same job"),
        Row(f"Django task.enqueue() tasks/s ({calls} seq.) vs async", "/s", spread(lambda r: r.django_sync),
            spread(lambda r: r.job_async), "await .aenqueue(), same job"),
        Row(f"Django task.aenqueue() tasks/s ({jobs:,}, {IN_FLIGHT} in flight)", "/s", spread(lambda r: r.django_burst),
            spread(lambda r: r.job_burst), ".aenqueue(), same job"),
    ]  # fmt: skip
