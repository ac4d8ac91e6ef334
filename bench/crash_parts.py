"""The parts `python -m bench crash` breaks: an SMTP sink that records every accepted message and can go down for a
while, and processes (workers, servers) in process groups of their own that are SIGKILLed and started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller

from bench.harness import Sink

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
RECIPIENT = re.compile(r"reader(\d+)@example\.com")
"""How job i's recipient reads anywhere (a broker's stored task, a log): `recipient(i)`."""


def recipient(i: int) -> str:
    """Job i's one recipient: how the sink tells jobs apart, whatever their Message-IDs."""
    return f"reader{i}@example.com"  # as bench/peers/celery_send.py names them


class RecordingSink(Sink):
    """The bench's SMTP sink, also keeping (recipient, Message-ID, time) of every accepted message; `down()` stops
    it listening (a sender's connection is refused, open ones are cut) until `up()` listens on the same port."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[str, bytes, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.original_content or envelope.content)
        for to in envelope.rcpt_tos:
            self.accepted.append((to, found[1] if found else b"", time.monotonic()))
        return await super().handle_DATA(server, session, envelope)

    def delivered(self, jobs: int) -> int:
        """How many of the `jobs` jobs' emails arrived at least once."""
        wanted = {recipient(i) for i in range(jobs)}
        return len({to for to, _, _ in self.accepted if to in wanted})

    def down(self) -> None:
        self._controller.stop()

    def up(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    """Wait for `condition` (polled) for at most `timeout` seconds; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # polling a condition with a deadline
    return True


class Restartable:
    """A process in a session (and process group) of its own, which a scenario starts, SIGKILLs with its whole group
    (a worker's pool children, a server's helpers: as the OOM killer or a container's end does) and starts again;
    SIGKILLed with its group on leaving."""

    def __init__(self, launch: Callable[[], subprocess.Popen[bytes]]) -> None:
        self.launch = launch
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = self.launch()
        return self.proc

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Restartable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
