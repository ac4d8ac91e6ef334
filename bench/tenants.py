"""Tenants: how long tenant B's jobs wait behind tenant A's flood, with task-queue fairness and without.

With no worker running, N trivial `@job` jobs of tenant A are enqueued in bulk, then 20 of tenant B; then one
`conveyor worker` starts (its default concurrency). B's wait is the time from the worker polling to each of B's jobs
having finished; the row is its median. Both sides run on a fresh `conveyor dev` server: with fairness on (as
`conveyor dev` runs it) and with it off (`CONVEYOR_DEV_FAIRNESS=false`, the server's default: first come, first
served).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from bench.figures import Row, Spread
from bench.harness import BIN, bench_settings, scratch, temporal, worker
from bench.jobs import team_job
from conveyor.client import BulkJob, JobHandle, Jobs

LATE = 20
"""Tenant B's jobs, enqueued after the flood."""


async def b_wait(flood: int, fairness: bool) -> float:
    """Median seconds from the worker polling to each of B's jobs finishing, behind `flood` jobs of A."""
    name = team_job().name
    with scratch() as home:
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings = bench_settings(home, 25, task_queue=queue, dev_fairness=fairness)
        async with temporal(settings) as client:
            jobs = Jobs(client, settings)
            flooded = await jobs.bulk(BulkJob(name, {"value": f"a{i}"}, tenant="A") for i in range(flood))
            late = await jobs.bulk(BulkJob(name, {"value": f"b{i}"}, tenant="B") for i in range(LATE))
            refused = [r for r in [*flooded, *late] if not isinstance(r, JobHandle)]
            if refused:
                raise RuntimeError(f"{len(refused)} jobs refused, e.g. {refused[0]}")
            async with worker(client, settings, str(BIN / "conveyor"), "worker", "--jobs", "bench.team_job"):
                began = time.monotonic()

                async def finished(handle: JobHandle) -> float:
                    await handle.result()
                    return time.monotonic() - began

                waits = await asyncio.gather(*(finished(h) for h in late if isinstance(h, JobHandle)))
    return statistics.median(waits)


async def measure(flood: int, reps: int) -> list[Row]:
    """The row: B's median wait with fairness against without, over `reps` repetitions (sides alternate first)."""
    fair, unfair = Spread([]), Spread([])
    for rep in range(reps):
        for fairness in (rep % 2 == 0, rep % 2 == 1):
            (fair if fairness else unfair).values.append(await b_wait(flood, fairness))
    return [
        Row(f"tenant B p50 wait behind a {flood:,}-job flood", "s", fair, unfair, "fairness off",
            "≤ 0.1x", lambda r: (r.ratio or 1) <= 0.1),
    ]  # fmt: skip
