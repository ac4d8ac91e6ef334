"""The SMTP server of `conveyor dev`: accepts every message and keeps it as `<outbox>/<job-id>.eml`.

Nothing leaves the machine. The file is named from the `X-Conveyor-Job-Id` header, so `conveyor status ID` and
`ls .conveyor/outbox/ID.eml` meet; a retried job overwrites its file with the same message.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from contracts.email import JOB_ID_HEADER


class OutboxHandler:
    """aiosmtpd handler that writes each message to a file, atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message; `250` tells the sender it was accepted."""
        data = envelope.original_content or b""
        job_id = message_from_bytes(data).get(JOB_ID_HEADER) or f"message-{uuid.uuid4().hex}"
        name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", job_id)
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.directory / f"{name}.eml")
        return "250 Message accepted for delivery"


async def start_outbox(directory: Path, host: str, port: int) -> asyncio.Server:
    """An SMTP server on `host:port` writing into `directory`."""
    handler = OutboxHandler(directory)

    def protocol() -> Any:
        return SMTP(handler, hostname="conveyor-outbox", ident="Conveyor dev outbox")

    return await asyncio.get_running_loop().create_server(protocol, host, port)
