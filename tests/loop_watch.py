"""How long the event loop was held: the most CPU time its thread spent between two ticks of a ticker task.

Thread CPU time, not wall time: on a loaded machine the process may wait for a core for 100 ms without anything
holding the loop, while a render on the loop spends the CPU itself. A loop that only waits spends next to none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass
class LoopWatch:
    """What the ticker saw: the longest CPU stretch between two ticks, and how many ticks there were."""

    held_cpu_s: float = 0.0
    ticks: int = 0


@contextlib.asynccontextmanager
async def watching_the_loop(every: float = 0.01) -> AsyncIterator[LoopWatch]:
    """A `LoopWatch` filled in while the block runs (and once more as it ends)."""
    watch = LoopWatch()
    last = time.thread_time()

    def tick() -> None:
        nonlocal last
        now = time.thread_time()
        watch.held_cpu_s = max(watch.held_cpu_s, now - last)
        watch.ticks += 1
        last = now

    async def ticker() -> None:
        while True:
            await asyncio.sleep(every)  # noqa: sleep-ok (the ticker's pace, not a wait for a result)
            tick()

    task = asyncio.create_task(ticker())
    try:
        yield watch
    finally:
        tick()
        task.cancel()
