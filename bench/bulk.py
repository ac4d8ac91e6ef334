"""Bulk enqueue: `Jobs.bulk` of N email jobs against raw `start_workflow` calls gathered under the same
concurrency. No worker polls the queue, so the figure is the enqueueing alone; each side gets a fresh server, so
neither starts into a database the other filled.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client

from bench.figures import Row, Spread
from bench.harness import bench_settings, scratch, temporal
from conveyor.client import BulkJob, Jobs
from conveyor.settings import Settings

CONCURRENCY = 50
"""`Jobs.bulk`'s default; the raw side gets the same."""


def email(i: int) -> dict[str, object]:
    return {"to": [f"reader{i}@example.com"], "template": "welcome", "context": {"name": f"Reader {i}"}}


async def conveyor_bulk(client: Client, settings: Settings, count: int) -> None:
    results = await Jobs(client, settings).bulk(
        (BulkJob("email", email(i)) for i in range(count)), concurrency=CONCURRENCY
    )
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} bulk jobs refused, e.g. {failed[0]}")


async def raw_bulk(client: Client, settings: Settings, count: int) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await client.start_workflow(
                "SendEmail", email(i), id=f"raw-{uuid.uuid4().hex}", task_queue=settings.task_queue
            )

    await asyncio.gather(*(one(i) for i in range(count)))


async def rate(conveyor: bool, count: int) -> float:
    """Jobs enqueued per second by one side on a fresh server."""
    with scratch() as home:
        settings = bench_settings(home, 25, task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        async with temporal(settings) as client:
            began = time.monotonic()
            await (conveyor_bulk if conveyor else raw_bulk)(client, settings, count)
            return count / (time.monotonic() - began)


async def measure(count: int, reps: int) -> list[Row]:
    """The bulk-enqueue row over `reps` repetitions (sides alternate first)."""
    ours, raw = Spread([]), Spread([])
    for rep in range(reps):
        for conveyor in (rep % 2 == 0, rep % 2 == 1):
            (ours if conveyor else raw).values.append(await rate(conveyor, count))
    return [
        Row(f"bulk enqueue ({count:,} jobs, {CONCURRENCY} at a time)", "/s", ours, raw, "raw start_workflow",
            "≥ 0.9x", lambda r: (r.ratio or 0) >= 0.9),
    ]  # fmt: skip
