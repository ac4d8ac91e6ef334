"""The broadcast job's activities: read a page of recipients, and email a batch over pooled SMTP connections
(`activities.broadcast_sms` texts one; both run their batch through `run_batch`).

One activity per recipient would cost a trip through the task queue each (~30 jobs/s on the dev server); a batch
of recipients per activity over reused connections runs at SMTP speed instead. Every recipient's message has a
Message-ID derived from the broadcast id and the address, so a resend (a worker killed after sending but before
its heartbeat reached the server) carries the same Message-ID and the receiving side can drop it; a retried
attempt skips the recipients its heartbeats recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Awaitable, Callable
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr
from temporalio import activity

from activities.data_files import reading_under
from activities.email import EmailActivities, message_id
from activities.liveness import alive
from activities.recipients import source
from activities.render import RenderedEmail
from activities.smtp import SmtpPool
from contracts.broadcast import (
    BatchProgress,
    Channel,
    ListRecipientsInput,
    Recipient,
    RecipientFailure,
    RecipientPage,
    SendBatchInput,
)
from contracts.email import JOB_ID_HEADER
from contracts.errors import JobError, PermanentError, TemplateNotFound
from contracts.sms import e164

_EMAIL = TypeAdapter(EmailStr)


def recipient_key(broadcast_id: str, address: str) -> str:
    """The idempotency key of one recipient of one broadcast: its Message-ID and outbox file name."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]
    return f"{broadcast_id}-{digest}"


def compose(content: RenderedEmail, mail_from: str, to: str, key: str) -> Message:
    """One recipient's message: text and/or HTML alternatives, Message-ID and job-id header from `key`.

    Built with the stdlib's classic (compat32) MIME classes rather than `EmailActivities.build`'s
    `EmailMessage`: its header registry costs ~3 ms a message here, which alone caps a broadcast near 300/s.
    A broadcast message has no Cc, Bcc or attachments, so the classic classes suffice and are ~6x faster. Its
    multipart boundary comes from `key` too: the generator would otherwise compile a regex per message to check a
    random one against the body, and base64 bodies (utf-8 parts) cannot contain its `_`.
    """
    parts: list[MIMENonMultipart] = []
    if content.text is not None:
        parts.append(MIMEText(content.text, "plain", "utf-8"))
    if content.html is not None:
        parts.append(MIMEText(content.html, "html", "utf-8"))
    msg: Message = (
        parts[0]
        if len(parts) == 1
        else MIMEMultipart(
            "alternative", boundary=f"==conveyor_{hashlib.sha256(key.encode()).hexdigest()[:24]}==", _subparts=parts
        )
    )
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = content.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(key, mail_from)
    msg[JOB_ID_HEADER] = key
    return msg


def sms_number(recipient: Recipient) -> str:
    """Where an SMS broadcast texts `recipient`: its `phone` variable when it has one, else its address."""
    return str(recipient.context.get("phone") or recipient.address)


def address_problem(recipient: Recipient, channel: Channel) -> str | None:
    """Why `recipient` cannot get a message on `channel`, or None when its address (or number) is valid."""
    if channel == "sms":
        try:
            e164(sms_number(recipient))
        except ValueError as e:
            return f"phone {sms_number(recipient)!r} {e}"
        return None
    try:
        _EMAIL.validate_python(recipient.address)
    except ValidationError:
        return "not a valid email address"
    return None


def checked(recipients: list[Recipient], channel: Channel) -> tuple[list[Recipient], list[RecipientFailure]]:
    """The recipients with a valid address for `channel`, and a failure for each of the others."""
    valid: list[Recipient] = []
    invalid: list[RecipientFailure] = []
    for r in recipients:
        problem = address_problem(r, channel)
        if problem is None:
            valid.append(r)
        else:
            invalid.append(RecipientFailure(address=r.address, reason=problem))
    return valid, invalid


SendOne = Callable[[SendBatchInput, Recipient], Awaitable[str | None]]
"""Sends one recipient's message and returns None, or why it was refused for good. It raises a `JobError` for
what no recipient escapes: a transient failure (the batch is retried) or a missing template (the broadcast fails)."""


async def run_batch(request: SendBatchInput, send_one: SendOne) -> BatchProgress:
    """Send to every recipient of the batch not yet done by an earlier attempt, recording each outcome in the
    heartbeat so a retried attempt skips them; permanent refusals are recorded, not raised.

    A transient failure fails the attempt after the others finished, so the retry has less to do.
    """
    details = activity.info().heartbeat_details  # decoded without a type: plain dicts
    progress = BatchProgress.model_validate(details[0]) if details else BatchProgress()
    done = set(progress.sent) | {f.address for f in progress.failures}

    async def one(recipient: Recipient) -> None:
        reason = await send_one(request, recipient)
        if reason is None:
            progress.sent.append(recipient.address)
        else:
            progress.failures.append(RecipientFailure(address=recipient.address, reason=reason))
        activity.heartbeat(progress)

    todo = [r for r in request.recipients if r.address not in done]
    async with alive(lambda: progress):  # a send paced by a rate limit may wait longer than the heartbeat timeout
        outcomes = await asyncio.gather(*(one(r) for r in todo), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, JobError):
            raise outcome.to_application_error() from None
        if isinstance(outcome, BaseException):
            raise outcome
    return progress


class BroadcastActivities:
    """Pages through recipient sources and emails batches. Built per worker with the email activities, a pool
    of SMTP connections, and the data directory that file sources read from."""

    def __init__(self, email: EmailActivities, pool: SmtpPool, data_dir: Path) -> None:
        self.email = email
        self.pool = pool
        self.data_dir = data_dir
        self.sender = parseaddr(email.mail_from)[1]  # the envelope sender, parsed once, not per message

    @activity.defn(name="list_recipients")
    async def list_recipients(self, request: ListRecipientsInput) -> RecipientPage:
        """`limit` recipients from `cursor`, split into valid and invalid addresses, and the source's size if asked."""
        try:
            read = source(request.source.name)
            with reading_under(self.data_dir):
                stop = request.cursor + request.limit
                page = list(itertools.islice(read(request.source.arg), request.cursor, stop + 1))  # +1: more?
                total = sum(1 for _ in read(request.source.arg)) if request.count else None
        except JobError as e:
            raise e.to_application_error() from None
        more = len(page) > request.limit
        valid, invalid = checked(page[: request.limit], request.channel)
        return RecipientPage(recipients=valid, invalid=invalid, next_cursor=stop if more else None, total=total)

    @activity.defn(name="send_batch")
    async def send_batch(self, request: SendBatchInput) -> BatchProgress:
        """Email every recipient of the batch over the pooled connections (a missing template fails it for good:
        no recipient could get the message)."""
        return await run_batch(request, self._send_one)

    async def _send_one(self, request: SendBatchInput, recipient: Recipient) -> str | None:
        message = request.message
        assert message.template is not None  # the model requires it on the email channel
        try:
            content = self.email.renderer.render(message.template, message.context | recipient.context)
            key = recipient_key(request.broadcast_id, recipient.address)
            email = compose(content, self.email.mail_from, recipient.address, key)
            refused = await self.pool.send(email, [recipient.address], sender=self.sender)
        except TemplateNotFound:
            raise
        except PermanentError as e:
            return str(e)
        return next(iter(refused.values()), None)  # one recipient: refused is empty, or holds its reply
