"""Waiting for an activity-shaped job's result outlives a poll that failed while the job did not. temporalio 1.35
reports a result poll that timed out on the client side (gRPC CANCELLED, "Timeout expired") as
`asyncio.CancelledError`, and a busy server's RESOURCE_EXHAUSTED as an `RPCError`; the bench saw each end a wait on
1,000 jobs on a loaded dev server. Neither can be produced on demand against a real server, so here a stand-in
handle raises exactly what the SDK raises (a mock, for that reason only)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from temporalio.client import ActivityHandle
from temporalio.service import RPCError, RPCStatusCode

from conveyor.client import activity_result


class TimesOutOnce:
    """A handle whose first poll times out as the SDK's does; the second returns the result."""

    def __init__(self) -> None:
        self.polls = 0

    async def result(self) -> str:
        self.polls += 1
        if self.polls == 1:
            raise asyncio.CancelledError() from RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")
        return "sent"


class BusyOnce:
    """A handle whose first poll finds the server busy (RESOURCE_EXHAUSTED after the SDK's own retries)."""

    def __init__(self) -> None:
        self.polls = 0

    async def result(self) -> str:
        self.polls += 1
        if self.polls == 1:
            raise RPCError("Workflow is busy.", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
        return "sent"


class Never:
    """A handle whose poll waits until cancelled."""

    async def result(self) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_poll_that_timed_out_is_polled_again() -> None:
    handle = TimesOutOnce()
    assert await activity_result(cast(ActivityHandle[Any], handle)) == "sent"
    assert handle.polls == 2


async def test_a_busy_server_is_polled_again() -> None:
    handle = BusyOnce()
    assert await activity_result(cast(ActivityHandle[Any], handle)) == "sent"
    assert handle.polls == 2


async def test_cancelling_the_waiting_task_still_ends_the_wait() -> None:
    waiting = asyncio.create_task(activity_result(cast(ActivityHandle[Any], Never())))
    await asyncio.sleep(0)  # one turn of the loop: the task starts its poll before it is cancelled
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
