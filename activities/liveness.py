"""Telling Temporal that a slow activity is still alive, without a heartbeat RPC for the fast ones.

An activity with a heartbeat timeout is retried that soon after its worker dies, instead of after its whole
attempt timeout (minutes). But heartbeating at once would cost the server an RPC per task, and the server is
Conveyor's bottleneck. `alive` heartbeats only once the work has run a quarter of the heartbeat timeout, then
every quarter: a 50 ms email costs nothing extra, a slow one keeps its attempt, and a dead worker's one is
retried after the heartbeat timeout.

An activity that records its progress in heartbeat details passes `details`: every heartbeat replaces the last
one's details, so a bare keep-alive beat would erase the progress a retried attempt resumes from.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio import activity


@contextlib.asynccontextmanager
async def alive(details: Callable[[], Any] | None = None) -> AsyncIterator[None]:
    """Heartbeat every quarter of this activity's heartbeat timeout while the block runs (not at all without
    one, or outside an activity), with `details()` as the heartbeat's details when given."""
    timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
    if not timeout:
        yield
        return

    async def beat(every: float) -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat(*([details()] if details else []))

    task = asyncio.create_task(beat(timeout.total_seconds() / 4))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
