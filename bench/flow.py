"""Flow control per key: what a limit of one job per key costs, against plain jobs of the same kind.

Three sides on one fresh stack (dev server, `conveyor worker --jobs bench.flow_job`), in rotating order:
- **plain**: the trivial `@job` (`bench_plain`), a standalone activity, `jobs` enqueued at once;
- **limited, distinct keys**: the same function with `concurrency=PerKey("customer", limit=1)`, every job on a
  key of its own, so none ever waits: the gate's own cost (a workflow, its gate's start, a grant, a leave);
- **limited, one key**: every job on the same key, so they run one after another: the hand-over from one job to
  the next (jobs/s here is hand-overs per second).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.figures import Row, Spread
from bench.harness import BIN, Sink, bench_settings, scratch, temporal, worker
from conveyor import Jobs

PLAIN, DISTINCT, ONE_KEY = "plain", "limited, distinct keys", "limited, one key"
SIDES = (PLAIN, DISTINCT, ONE_KEY)


def one_key(count: int) -> int:
    """Jobs of the one-key side: a twentieth of the others', since they run one at a time."""
    return max(count // 20, 5)


async def burst(jobs: Jobs, side: str, count: int) -> float:
    """Jobs/s of `count` jobs of `side` enqueued at once and awaited."""
    kind = "bench_plain" if side == PLAIN else "bench_limited"
    run = uuid.uuid4().hex[:6]

    def customer(i: int) -> str:
        return f"{run}-one" if side == ONE_KEY else f"{run}-{i}"

    began = time.monotonic()
    handles = await asyncio.gather(
        *(jobs.enqueue(kind, {"value": f"job {i}", "customer": customer(i)}) for i in range(count))
    )
    await asyncio.gather(*(h.result() for h in handles))
    return count / (time.monotonic() - began)


async def measure(count: int, reps: int) -> list[Row]:
    """The limited sides' jobs/s against the plain side's, `reps` times each on one stack."""
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    with scratch() as home, Sink() as sink:
        settings = bench_settings(home, sink.port, task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        async with temporal(settings) as client:
            command = (str(BIN / "conveyor"), "worker", "--jobs", "bench.flow_job")
            async with worker(client, settings, *command):
                from bench import flow_job  # noqa: F401  # registers the kinds in this (producing) process too

                jobs = Jobs(client, settings)
                await burst(jobs, DISTINCT, 2)  # the worker's first workflow runs (sandbox imports) before timing
                for rep in range(reps):
                    for side in SIDES[rep % 3 :] + SIDES[: rep % 3]:
                        rates[side].append(await burst(jobs, side, one_key(count) if side == ONE_KEY else count))

    return [
        Row(f"per-key-limited jobs/s, distinct keys ({count:,})", "/s", Spread(rates[DISTINCT]),
            Spread(rates[PLAIN]), "plain @job, same fn"),
        Row(f"per-key-limited hand-overs/s, one key at limit 1 ({one_key(count):,})", "/s", Spread(rates[ONE_KEY]),
            Spread(rates[PLAIN]), "plain @job, same fn"),
    ]  # fmt: skip
