"""A job's start and the wait for its result outlive an RPC that failed while the job did not.

A start is sent again while its RPC fails transiently (the same job id: a start that landed is found, never
doubled), then fails `TemporalUnavailable`. Waiting for an activity-shaped job's result outlives a poll that timed
out on the client side (temporalio 1.35 raises it as `asyncio.CancelledError`) or found the server busy
(RESOURCE_EXHAUSTED). The bench saw each on 1,000 jobs at once on a loaded dev server. None can be produced on
demand against a real server, so stand-ins raise exactly what the SDK raises (mocks, for that reason only); the
start whose answer was lost runs against the real dev server, worker and SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest
from temporalio.client import ActivityHandle
from temporalio.service import RPCError, RPCStatusCode

from contracts.kinds import Shape
from conveyor import EmailJob, Jobs, client
from conveyor.client import activity_result, started
from conveyor.errors import TemporalUnavailable
from tests.smtp_server import SmtpServer


class FailsOnce:
    """A handle whose first poll fails with `error`, as the SDK raises it; the second returns the result."""

    def __init__(self, error: BaseException) -> None:
        self.error, self.polls = error, 0

    async def result(self) -> str:
        self.polls += 1
        if self.polls == 1:
            raise self.error
        return "sent"


def timed_out() -> BaseException:
    """The SDK's report of a result poll past its client-side deadline: a cancellation caused by the RPC's."""
    error = asyncio.CancelledError()
    error.__cause__ = RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")
    return error


class Never:
    """A handle whose poll waits until cancelled (`polling` set once it does)."""

    def __init__(self) -> None:
        self.polling = asyncio.Event()

    async def result(self) -> str:
        self.polling.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "error",
    [timed_out(), RPCError("Workflow is busy.", RPCStatusCode.RESOURCE_EXHAUSTED, b"")],
    ids=["timed out", "server busy"],
)
async def test_a_poll_that_failed_while_the_job_did_not_is_polled_again(error: BaseException) -> None:
    handle = FailsOnce(error)
    assert await activity_result(cast(ActivityHandle[Any], handle)) == "sent"
    assert handle.polls == 2


async def test_cancelling_the_waiting_task_still_ends_the_wait() -> None:
    handle = Never()
    waiting = asyncio.create_task(activity_result(cast(ActivityHandle[Any], handle)))
    await handle.polling.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


class Starts:
    """A start whose first `failures` tries fail with `status`."""

    def __init__(self, failures: int, status: RPCStatusCode = RPCStatusCode.CANCELLED) -> None:
        self.failures, self.status, self.tries = failures, status, 0

    async def __call__(self) -> str:
        self.tries += 1
        if self.tries <= self.failures:
            raise RPCError("Timeout expired", self.status, b"")
        return "handle"


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "START_PAUSE", 0.0)


async def test_a_start_that_timed_out_is_sent_again(no_pause: None) -> None:
    start = Starts(failures=2)
    assert await started("email-1", start) == "handle"
    assert start.tries == 3


async def test_a_start_that_keeps_failing_is_temporal_unavailable_naming_the_job(no_pause: None) -> None:
    start = Starts(failures=99, status=RPCStatusCode.UNAVAILABLE)
    with pytest.raises(TemporalUnavailable, match=r"job email-1 after 5 tries.*conveyor status email-1"):
        await started("email-1", start)
    assert start.tries == client.START_TRIES


async def test_a_refused_start_is_not_sent_again() -> None:
    start = Starts(failures=1, status=RPCStatusCode.INVALID_ARGUMENT)
    with pytest.raises(RPCError):
        await started("email-1", start)
    assert start.tries == 1


@pytest.mark.parametrize("shape", Shape)
async def test_a_start_whose_answer_was_lost_is_found_not_sent_twice(
    jobs: Jobs, smtp_server: SmtpServer, shape: Shape, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start lands on the server, then its caller sees the SDK's client-side time-out: the second try
    finds the job already started and hands it back; one email is sent."""
    method = "start_activity" if shape is Shape.ACTIVITY else "start_workflow"
    real = getattr(jobs.client, method)
    tries = 0

    async def answer_lost_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal tries
        tries += 1
        handle = await real(*args, **kwargs)
        if tries == 1:
            raise RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")
        return handle

    monkeypatch.setattr(jobs.client, method, answer_lost_once)
    to = f"lost-{uuid.uuid4().hex[:8]}@example.com"
    handle = await jobs.email(EmailJob(to=[to], subject="Once", text="only once"))
    assert tries == 2 and handle.shape is shape
    await handle.result()
    assert smtp_server.attempts(to) == 1 and len(smtp_server.to(to)) == 1
