"""Spacing calls out in time: the per-process half of a rate limit (SMS providers, webhook endpoints)."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Spaces callers of `wait` at least `1/rate` seconds apart (no limit when `rate` is None)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when this caller may go."""
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval
