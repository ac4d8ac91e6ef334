"""A broadcast batch at SMTP speed keeps its promises: each message is the one the stdlib would build, progress
is recorded every few recipients (not after each), and a retried batch still skips everyone already sent."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import timedelta
from email.message import EmailMessage

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.broadcast import HEARTBEAT_EVERY, compose, recipient_key, run_batch
from activities.broadcast_mime import BatchMime, fast_path_for
from activities.render import RenderedEmail
from contracts.broadcast import BatchProgress, BroadcastMessage, Recipient, SendBatchInput
from contracts.errors import SmtpUnavailable

SENDER = "Conveyor Tests <jobs@conveyor.test>"


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> list[tuple[str, str]]:
    return [(p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()]


@pytest.mark.parametrize(
    "content",
    [
        RenderedEmail(
            subject="Hello Ada", text="Hi Ada,\n\n.a line starting with a dot\n", html="<p>Hi <b>Ada</b></p>"
        ),
        RenderedEmail(subject="Grüße, Zoë — ünïcode ✓", text="Grüße " * 40, html=None),
        RenderedEmail(subject="html only", text=None, html="<p>" + "x" * 500 + "</p>"),
    ],
    ids=["alternatives", "unicode-text-only", "html-only"],
)
def test_batch_message_is_the_message_the_stdlib_builds(content: RenderedEmail) -> None:
    key = recipient_key("broadcast-1", "ada@example.com")
    raw = BatchMime(SENDER).message(content, "ada@example.com", key, now=1_800_000_000.5)
    fast = parsed(raw)
    classic = parsed(compose(content, SENDER, "ada@example.com", key).as_bytes())
    for header in ("From", "To", "Subject", "Message-ID", "X-Conveyor-Job-Id", "MIME-Version", "Content-Type"):
        assert fast[header] == classic[header], header
    assert b"\r\nDate: Fri, 15 Jan 2027 08:00:00 GMT\r\n" in raw
    assert all(line.endswith(b"\r") and len(line) < 999 for line in raw.split(b"\n")[:-1]), "CRLF lines only"
    assert parts(fast) == parts(classic)


def test_only_plain_ascii_addresses_take_the_fast_path() -> None:
    assert fast_path_for("ada@example.com")
    assert not fast_path_for("zoë@exämple.com") and not fast_path_for("ada@example.com\r\nBcc: x@evil.test")


def batch(count: int) -> SendBatchInput:
    recipients = [Recipient(address=f"r{i}@example.com") for i in range(count)]
    return SendBatchInput(broadcast_id="b", message=BroadcastMessage(template="newsletter"), recipients=recipients)


def environment(beats: list[BatchProgress], resumed: BatchProgress | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    details = [resumed.model_dump()] if resumed else []
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=10), heartbeat_details=details)
    env.on_heartbeat = lambda *d: beats.append(d[0].model_copy(deep=True))
    return env


async def test_progress_is_recorded_every_few_recipients_not_after_each() -> None:
    beats: list[BatchProgress] = []
    sent: list[str] = []

    async def send_one(_: SendBatchInput, r: Recipient) -> str | None:
        sent.append(r.address)
        return None

    result = await environment(beats).run(run_batch, batch(100), send_one)
    assert len(result.sent) == 100 == len(sent)
    assert 100 // HEARTBEAT_EVERY - 1 <= len(beats) <= 100 // HEARTBEAT_EVERY + 1, "about one per N recipients"


async def test_retried_batch_skips_every_recipient_sent_before_the_failure() -> None:
    beats: list[BatchProgress] = []
    attempts: list[str] = []
    outage = ["r7@example.com"]  # deferred once, accepted on the retry

    async def flaky(_: SendBatchInput, r: Recipient) -> str | None:
        attempts.append(r.address)
        if r.address in outage:
            outage.remove(r.address)
            raise SmtpUnavailable("421 try later")
        return "550 no such user" if r.address == "r3@example.com" else None

    with pytest.raises(ApplicationError) as failed:
        await environment(beats).run(run_batch, batch(10), flaky)
    assert failed.value.type == "SmtpUnavailable"
    last = beats[-1]
    assert len(last.sent) == 8 and [f.address for f in last.failures] == ["r3@example.com"], "every outcome recorded"

    attempts.clear()
    result = await environment([], resumed=last).run(run_batch, batch(10), flaky)
    assert attempts == ["r7@example.com"], "the retry sends only to the recipient whose send failed"
    assert len(result.sent) == 9 and len(result.failures) == 1
