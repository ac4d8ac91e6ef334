"""Sending a message to an SMTP server with aiosmtplib, and sorting its failures into permanent and transient.

The rule, from RFC 5321: a 5xx reply is permanent (the server will say the same next time), a 4xx reply, a refused
connection or a time-out is transient. Error texts carry the server's reply, never credentials.

Email jobs and broadcasts send over a few reused connections (`SmtpPool`): ~186 messages/s with a connection per
message, ~440/s over 10 reused connections (measured here). Alerts, rare, take a new connection each (`send`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage, Message
from typing import Any

import aiosmtplib

from contracts.config import SmtpConfig, SmtpTls
from contracts.errors import JobError, MessageRejected, RecipientRejected, SmtpUnavailable


def classify(error: Exception) -> JobError:
    """The Conveyor error for an aiosmtplib or network failure."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        replies = {r.recipient: f"{r.code} {r.message}" for r in error.recipients}
        if all(r.code >= 500 for r in error.recipients):
            return RecipientRejected(f"every recipient was refused: {replies}")
        return SmtpUnavailable(f"recipients deferred: {replies}")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        if error.code >= 500:
            return MessageRejected(f"SMTP server refused the message: {error.code} {error.message}")
        return SmtpUnavailable(f"SMTP server deferred the message: {error.code} {error.message}")
    return SmtpUnavailable(f"SMTP server unreachable: {type(error).__name__}: {error}")


def connection_options(config: SmtpConfig) -> dict[str, Any]:
    """aiosmtplib's keyword arguments for reaching the server in `config` (for `send` and `SMTP`)."""
    return {
        "hostname": config.host,
        "port": config.port,
        "use_tls": config.tls is SmtpTls.IMPLICIT,
        "start_tls": config.tls is SmtpTls.STARTTLS,
        "tls_context": config.tls_context(),
        "username": config.username,
        "password": config.password.get_secret_value() if config.password else None,
        "timeout": config.timeout,
    }


def refused_replies(refused: dict[str, aiosmtplib.SMTPResponse]) -> dict[str, str]:
    """`{recipient: "550 reply"}` from aiosmtplib's refused-recipient mapping."""
    return {addr: f"{code} {text}" for addr, (code, text) in refused.items()}


async def send(config: SmtpConfig, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
    """Send `message` to `recipients` over a new connection; returns the recipients refused (with replies).

    Raises a permanent `JobError` when the server refuses the message or every recipient for good, a transient
    one when it cannot be reached or defers.
    """
    client = aiosmtplib.SMTP(**connection_options(config))
    try:
        await client.connect()
        refused, _ = await client.send_message(message, recipients=recipients)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()  # the message is accepted: a failed goodbye must not make it a retry
    except (aiosmtplib.SMTPException, OSError) as e:
        raise classify(e) from None
    finally:
        # Closed at once, without QUIT: a cancelled send (worker shutdown past its grace period, or `conveyor
        # cancel`) must not wait `smtp_timeout` for a server that is not answering (aiosmtplib.send would).
        client.close()
    return refused_replies(refused)


class SmtpPool:
    """Up to `size` SMTP connections, opened on demand and reused for message after message.

    A connection that broke (network error, disconnect, time-out) is closed and replaced; one that merely got a
    refusal stays (aiosmtplib resets the envelope). Build it inside the event loop that uses it.
    """

    def __init__(self, config: SmtpConfig, size: int = 10) -> None:
        self.config = config
        self._slots = asyncio.Semaphore(size)
        self._idle: list[aiosmtplib.SMTP] = []

    @contextlib.asynccontextmanager
    async def _connection(self, reuse: bool = True) -> AsyncIterator[tuple[aiosmtplib.SMTP, bool]]:
        """A connected client for the block's duration, and whether it was reused (False: opened now, always so
        unless `reuse`); waits while all `size` are in use."""
        async with self._slots:
            client = None
            while reuse and self._idle and client is None:
                candidate = self._idle.pop()
                client = candidate if candidate.is_connected else None
            reused = client is not None
            if client is None:
                client = aiosmtplib.SMTP(**connection_options(self.config))
                await client.connect()
            try:
                yield client, reused
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                self._idle.append(client)  # the server answered (and the envelope was reset): still usable
                raise
            except BaseException:
                client.close()
                raise
            self._idle.append(client)

    async def send(self, message: Message, recipients: list[str], sender: str | None = None) -> dict[str, str]:
        """Like `send`, over a pooled connection (any `email.message.Message`, modern or classic). A `sender`
        given spares parsing it out of the From header for every message."""
        return await self._transact(lambda client: client.send_message(message, sender=sender, recipients=recipients))

    async def send_bytes(self, message: bytes, recipients: list[str], sender: str) -> dict[str, str]:
        """Send a message already in wire form (CRLF lines, ASCII), e.g. a broadcast's: no generator, no header
        parsing, just the SMTP transaction."""
        return await self._transact(lambda client: client.sendmail(sender, recipients, message))

    async def _transact(self, send: Callable[[aiosmtplib.SMTP], Awaitable[Any]]) -> dict[str, str]:
        """Run one mail transaction on a pooled connection; failures classified as `send` does.

        A server drops connections that sat idle (RFC 5321 allows it after 5 minutes), and the pool learns it only
        when it speaks: a reused connection found closed is replaced by a new one for the same transaction, once,
        instead of failing the job's attempt and waiting out its retry interval."""
        reused = False
        try:
            try:
                async with self._connection() as (client, reused):
                    refused, _ = await send(client)
            except aiosmtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                async with self._connection(reuse=False) as (client, _):
                    refused, _ = await send(client)
        except (aiosmtplib.SMTPException, OSError) as e:
            raise classify(e) from None
        return refused_replies(refused)
