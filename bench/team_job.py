"""The trivial `@job` of the bench's `@job` side: what a team's own job costs over the raw standalone activity.

conveyor worker --jobs bench.team_job
"""

from __future__ import annotations

from conveyor import job


@job
async def bench_trivial(value: str) -> str:
    """Does nothing, as the raw baseline's activity (`bench.raw.noop`)."""
    return value
