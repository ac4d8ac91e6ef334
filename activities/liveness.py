"""Heartbeats: the one form their details take, and telling Temporal that a slow activity is still alive without
a heartbeat RPC for the fast ones.

Every heartbeat's details are `(progress, resume state)` in fixed positions (`beat`): first the step's
`contracts.progress.Progress`, which `conveyor status` reads, then, only for an activity that resumes where its
last attempt stopped (a broadcast batch), that state, which its next attempt reads back (`resumed`). Nobody has to
guess which one a heartbeat holds.

An activity with a heartbeat timeout is retried that soon after its worker dies, instead of after its whole
attempt timeout (minutes). But heartbeating at once would cost the server an RPC per task, and the server is
Conveyor's bottleneck. `alive` heartbeats only once the work has run a quarter of the heartbeat timeout, then
every quarter: a 50 ms email costs nothing extra, a slow one keeps its attempt (and shows its stage in `status`),
and a dead worker's one is retried after the heartbeat timeout. Every beat carries the details again: each
replaces the last one's, so a bare keep-alive beat would erase the state a retried attempt resumes from.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import activity

from contracts.progress import Progress

M = TypeVar("M", bound=BaseModel)

RESUME_AT = 1
"""Position of the resume state in a heartbeat's details (the progress is at 0)."""


def beat(progress: Progress, resume: BaseModel | None = None) -> None:
    """Heartbeat `progress`, and `resume` (the state the next attempt starts from) when the activity has one."""
    activity.heartbeat(progress, *([] if resume is None else [resume]))


def resumed(model: type[M]) -> M | None:
    """The resume state the last attempt of this activity heartbeated, if it heartbeated one."""
    details = activity.info().heartbeat_details  # decoded without a type: plain dicts
    return model.model_validate(details[RESUME_AT]) if len(details) > RESUME_AT else None


@contextlib.asynccontextmanager
async def alive(
    progress: Callable[[], Progress], resume: Callable[[], BaseModel | None] | None = None
) -> AsyncIterator[None]:
    """Heartbeat every quarter of this activity's heartbeat timeout while the block runs (not at all without
    one, or outside an activity), with `progress()` (and `resume()`) as each beat's details."""
    timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
    if not timeout:
        yield
        return

    async def beating(every: float) -> None:
        while True:
            await asyncio.sleep(every)
            beat(progress(), resume() if resume else None)

    task = asyncio.create_task(beating(timeout.total_seconds() / 4))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
