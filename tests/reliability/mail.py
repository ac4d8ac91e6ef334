"""Counting what reached the test SMTP server, per recipient: deliveries, duplicates, and their Message-IDs."""

from __future__ import annotations

import uuid
from collections import defaultdict

from conveyor import EmailJob
from tests.smtp_server import SmtpServer


def recipients(scenario: str, n: int) -> list[str]:
    """`n` addresses no other test uses, so the server's records of them are this scenario's alone."""
    run = uuid.uuid4().hex[:8]
    return [f"{scenario}-{i}-{run}@example.com" for i in range(n)]


def note(to: str) -> EmailJob:
    """A small explicit email (no template): what most jobs look like."""
    return EmailJob(to=[to], subject="Reliability", text=f"hello {to}")


def message_ids(smtp: SmtpServer, addresses: list[str]) -> dict[str, list[str]]:
    """Recipient -> the Message-IDs of every message it received (one per delivery)."""
    wanted = set(addresses)
    got: dict[str, list[str]] = defaultdict(list)
    for received in list(smtp.handler.received):
        for rcpt in received.rcpt_tos:
            if rcpt in wanted:
                got[rcpt].append(str(received.message["Message-ID"]))
    return got


async def delivered(smtp: SmtpServer, addresses: list[str]) -> int:
    """How many of `addresses` received at least one message (async, to poll with `eventually`)."""
    return len(message_ids(smtp, addresses))
