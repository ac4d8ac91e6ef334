"""A broadcast batch at SMTP speed keeps its promises: progress is recorded every few recipients (not after each),
and a retried batch still skips everyone already sent — also when its last attempt ran on a worker from before
heartbeats carried progress. (Its messages are checked against the stdlib's in `tests/test_mime.py`.)"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.broadcast import HEARTBEAT_EVERY, SendOne, run_batch
from contracts.broadcast import BatchOutcome, BroadcastMessage, Recipient, SendBatchInput
from contracts.errors import SmtpUnavailable
from contracts.progress import Progress


def batch(count: int) -> SendBatchInput:
    recipients = [Recipient(address=f"r{i}@example.com") for i in range(count)]
    return SendBatchInput(broadcast_id="b", message=BroadcastMessage(template="newsletter"), recipients=recipients)


Beat = tuple[Progress, BatchOutcome]
"""A batch's heartbeat details: its progress, then its outcome so far (the state a retry resumes from)."""


def environment(beats: list[Beat], details: list[object] | None = None) -> ActivityEnvironment:
    """An activity environment whose last attempt heartbeated `details`, recording this attempt's heartbeats."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=10), heartbeat_details=details or [])
    env.on_heartbeat = lambda *d: beats.append((d[0].model_copy(), d[1].model_copy(deep=True)))
    return env


async def test_progress_is_recorded_every_few_recipients_not_after_each() -> None:
    beats: list[Beat] = []
    sent: list[str] = []

    async def send_one(_: SendBatchInput, r: Recipient) -> str | None:
        sent.append(r.address)
        return None

    result = await environment(beats).run(run_batch, batch(100), send_one)
    assert len(result.sent) == 100 == len(sent)
    assert 100 // HEARTBEAT_EVERY - 1 <= len(beats) <= 100 // HEARTBEAT_EVERY + 1, "about one per N recipients"
    progress, outcome = beats[0]
    assert progress.describe() == f"{len(outcome.sent)}/100 recipients" and progress.stage == "sending"


def flaky_send(attempts: list[str], outage: list[str]) -> SendOne:
    """Sends that refuse r3 for good and defer the addresses in `outage` once, recording every attempt."""

    async def send(_: SendBatchInput, r: Recipient) -> str | None:
        attempts.append(r.address)
        if r.address in outage:
            outage.remove(r.address)
            raise SmtpUnavailable("421 try later")
        return "550 no such user" if r.address == "r3@example.com" else None

    return send


async def test_retried_batch_skips_every_recipient_sent_before_the_failure() -> None:
    beats: list[Beat] = []
    attempts: list[str] = []
    flaky = flaky_send(attempts, ["r7@example.com"])  # deferred once, accepted on the retry

    with pytest.raises(ApplicationError) as failed:
        await environment(beats).run(run_batch, batch(10), flaky)
    assert failed.value.type == "SmtpUnavailable"
    progress, last = beats[-1]
    assert len(last.sent) == 8 and [f.address for f in last.failures] == ["r3@example.com"], "every outcome recorded"
    assert progress.describe() == "9/10 recipients (1 failed)"

    attempts.clear()
    details: list[object] = [progress.model_dump(), last.model_dump()]  # as the server hands them back: plain dicts
    result = await environment([], details).run(run_batch, batch(10), flaky)
    assert attempts == ["r7@example.com"], "the retry sends only to the recipient whose send failed"
    assert len(result.sent) == 9 and len(result.failures) == 1


async def test_batch_resumes_from_a_heartbeat_of_a_worker_from_before_progress() -> None:
    attempts: list[str] = []
    earlier = BatchOutcome(sent=[f"r{i}@example.com" for i in range(5)])  # heartbeated alone, as workers did then
    result = await environment([], [earlier.model_dump()]).run(run_batch, batch(10), flaky_send(attempts, []))
    assert attempts == [f"r{i}@example.com" for i in range(5, 10)], "nobody the earlier attempt reached gets it again"
    assert result.sent == [f"r{i}@example.com" for i in range(10)] and not result.failures
