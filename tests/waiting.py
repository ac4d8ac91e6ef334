"""Waiting on a condition with a deadline, for state that settles asynchronously (visibility, status)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Call `probe` until `ok(result)`; the last result, or AssertionError naming it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last: {result!r}")
        await asyncio.sleep(0.05)  # noqa: sleep-ok (polling interval of a condition with a deadline)
