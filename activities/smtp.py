"""Sending a message to an SMTP server with aiosmtplib, and sorting its failures into permanent and transient.

The rule, from RFC 5321: a 5xx reply is permanent (the server will say the same next time), a 4xx reply, a refused
connection or a time-out is transient. Error texts carry the server's reply, never credentials.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path

import aiosmtplib
from pydantic import SecretStr

from activities.errors import JobError, MessageRejected, RecipientRejected, SmtpUnavailable


class SmtpTls(StrEnum):
    """How the SMTP connection is secured."""

    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"  # TLS from the first byte, usually port 465


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the SMTP server."""

    host: str = "127.0.0.1"
    port: int = 1025
    tls: SmtpTls = SmtpTls.NONE
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    ca_file: Path | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """The context that verifies the server (system CAs, or `ca_file`); None without TLS."""
        if self.tls is SmtpTls.NONE:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


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


async def send(config: SmtpConfig, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
    """Send `message` to `recipients` over a new connection; returns the recipients refused (with replies).

    Raises a permanent `JobError` when the server refuses the message or every recipient for good, a transient
    one when it cannot be reached or defers.
    """
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.tls is SmtpTls.IMPLICIT,
        start_tls=config.tls is SmtpTls.STARTTLS,
        tls_context=config.tls_context(),
        username=config.username,
        password=config.password.get_secret_value() if config.password else None,
        timeout=config.timeout,
    )
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
    return {addr: f"{code} {text}" for addr, (code, text) in refused.items()}
