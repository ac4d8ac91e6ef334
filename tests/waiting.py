"""Waiting on a condition with a deadline, for state that settles asynchronously (visibility, status)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from temporalio.client import Client

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


async def started_on(client: Client, queues: Iterable[str]) -> set[str]:
    """Ids of every job started on `queues`, of either shape (workflows and standalone activities), from
    visibility: for checks that nothing (or exactly this) was enqueued."""
    query = " OR ".join(f"TaskQueue = '{q}'" for q in queues)
    found = {w.id async for w in client.list_workflows(query)}
    return found | {a.activity_id async for a in client.list_activities(query)}
