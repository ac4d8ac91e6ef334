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
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr
from temporalio import activity

from activities.data_files import reading_under
from activities.email import EmailActivities
from activities.liveness import alive, beat, resumed
from activities.mime import fast_path_for, full_message
from activities.recipients import source
from activities.smtp import SmtpPool
from contracts.broadcast import (
    BatchOutcome,
    Channel,
    ListRecipientsInput,
    Recipient,
    RecipientFailure,
    RecipientPage,
    SendBatchInput,
)
from contracts.errors import (
    INPUT_ERRORS,
    JobError,
    PermanentError,
    TemplateNotFound,
    failures_typed,
)
from contracts.progress import Progress
from contracts.sms import e164

_EMAIL = TypeAdapter(EmailStr)


def recipient_key(broadcast_id: str, address: str) -> str:
    """The idempotency key of one recipient of one broadcast: its Message-ID and outbox file name."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]
    return f"{broadcast_id}-{digest}"


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


HEARTBEAT_EVERY = 25
"""Recipients between two progress heartbeats of a batch..."""
HEARTBEAT_SECONDS = 0.5
"""...or seconds, whichever comes first. A heartbeat per recipient encoded the whole growing progress every time
(quadratic in the batch) for nothing: the worker sends at most one a second to the server anyway. A batch retried
after its worker died re-sends at most the recipients since the last heartbeat that reached the server (with the
same Message-IDs), as before; a batch that fails records every outcome first (see `run_batch`)."""


async def run_batch(request: SendBatchInput, send_one: SendOne) -> BatchOutcome:
    """Send to every recipient of the batch not yet done by an earlier attempt, recording the outcomes in the
    heartbeat so a retried attempt skips them; permanent refusals are recorded, not raised.

    A transient failure fails the attempt after the others finished, and only after a last heartbeat with every
    outcome (its details travel with the failure), so the retry has less to do and never re-sends them.
    """
    outcome = resumed(BatchOutcome) or before_progress() or BatchOutcome()
    done = set(outcome.sent) | {f.address for f in outcome.failures}
    unreported, last_beat = 0, time.monotonic()

    def progress() -> Progress:
        failed = len(outcome.failures)
        total = len(request.recipients)
        return Progress(stage="sending", done=len(outcome.sent) + failed, failed=failed, total=total, unit="recipients")

    async def one(recipient: Recipient) -> None:
        nonlocal unreported, last_beat
        try:
            reason = await send_one(request, recipient)
        except INPUT_ERRORS as e:  # this recipient's data (e.g. an address the MIME classes refuse): theirs alone
            reason = f"{type(e).__name__}: {str(e)[:300]}"
        if reason is None:
            outcome.sent.append(recipient.address)
        else:
            outcome.failures.append(RecipientFailure(address=recipient.address, reason=reason))
        unreported += 1
        now = time.monotonic()
        if unreported >= HEARTBEAT_EVERY or now - last_beat >= HEARTBEAT_SECONDS:
            beat(progress(), outcome)
            unreported, last_beat = 0, now

    todo = [r for r in request.recipients if r.address not in done]
    # A send paced by a rate limit may wait longer than the heartbeat timeout.
    async with alive(progress, lambda: outcome):
        outcomes = await asyncio.gather(*(one(r) for r in todo), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        beat(progress(), outcome)
    for error in errors:
        if isinstance(error, JobError):
            raise error.to_application_error() from None
        raise error
    return outcome


def before_progress() -> BatchOutcome | None:
    """The outcome heartbeated by an attempt on a worker from before heartbeats carried progress: the outcome was
    then their only detail (now it is always the second), so a batch a deploy interrupted sends nobody twice."""
    details = activity.info().heartbeat_details
    return BatchOutcome.model_validate(details[0]) if len(details) == 1 else None


class BroadcastActivities:
    """Pages through recipient sources and emails batches. Built per worker with the email activities, a pool
    of SMTP connections, and the data directory that file sources read from."""

    def __init__(self, email: EmailActivities, pool: SmtpPool, data_dir: Path) -> None:
        self.email = email
        self.pool = pool
        self.data_dir = data_dir

    @activity.defn(name="list_recipients")
    async def list_recipients(self, request: ListRecipientsInput) -> RecipientPage:
        """`limit` recipients from `cursor`, split into valid and invalid addresses, and the source's size if asked."""
        with failures_typed():
            read = source(request.source.name)
            with reading_under(self.data_dir):
                stop = request.cursor + request.limit
                page = list(itertools.islice(read(request.source.arg), request.cursor, stop + 1))  # +1: more?
                total = sum(1 for _ in read(request.source.arg)) if request.count else None
        more = len(page) > request.limit
        valid, invalid = checked(page[: request.limit], request.channel)
        return RecipientPage(recipients=valid, invalid=invalid, next_cursor=stop if more else None, total=total)

    @activity.defn(name="send_batch")
    async def send_batch(self, request: SendBatchInput) -> BatchOutcome:
        """Email every recipient of the batch over the pooled connections (a missing template fails it for good:
        no recipient could get the message). Messages are joined from wire bytes by the email activities' `mime`,
        whose From line and header cache every batch of this worker shares."""
        return await run_batch(request, self._send_one)

    async def _send_one(self, request: SendBatchInput, recipient: Recipient) -> str | None:
        mime = self.email.mime
        message = request.message
        assert message.template is not None  # the model requires it on the email channel
        try:
            content = await self.email.renderer.render_async(
                message.template, message.context | recipient.context, request.broadcast_id
            )
            key = recipient_key(request.broadcast_id, recipient.address)
            to = [recipient.address]
            if fast_path_for(mime.mail_from, recipient.address):
                wire = mime.message(content, key, time.time(), to)
                refused = await self.pool.send_bytes(wire, to, sender=mime.sender)
            else:  # an internationalised address: the stdlib builds it (and aiosmtplib asks for SMTPUTF8)
                email = full_message(content, mime.mail_from, key, to)
                refused = await self.pool.send(email, to, sender=mime.sender)
        except TemplateNotFound:
            raise
        except PermanentError as e:
            return str(e)
        return next(iter(refused.values()), None)  # one recipient: refused is empty, or holds its reply
