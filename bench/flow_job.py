"""The trivial `@job` kinds of the flow-control case: the same function, plain and limited to one job per key.

conveyor worker --jobs bench.flow_job
"""

from __future__ import annotations

from conveyor import PerKey, job


@job
async def bench_plain(value: str, customer: str) -> str:
    """Does nothing (as `bench.team_job.bench_trivial`): the plain side."""
    return value


@job(concurrency=PerKey("customer", limit=1))
async def bench_limited(value: str, customer: str) -> str:
    """The same, at most one job per customer at a time: the limited side."""
    return value
