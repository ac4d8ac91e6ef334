"""Reused SMTP connections: a message goes over a connection already open, and a connection the server closed
while it sat in the pool (an idle time-out) is replaced for the same message instead of failing the job's attempt.

A real aiosmtpd server on loopback (plain SMTP: the pool's reuse is what is tested, not TLS)."""

from __future__ import annotations

import threading
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as ServerSession

from activities.smtp import SmtpPool
from contracts.config import SmtpConfig
from tests.smtp_server import free_port

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


class Sessions:
    """Counts connections and messages; keeps the last session, so the test can close it from the server side."""

    def __init__(self) -> None:
        self.connections = 0
        self.messages = 0
        self.last: ServerSession | None = None

    async def handle_EHLO(
        self, server: ServerSession, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        self.last = server
        session.host_name = hostname  # what aiosmtpd's own EHLO does when no handler takes it
        return responses

    async def handle_DATA(self, server: ServerSession, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 OK"


async def test_a_connection_closed_in_the_pool_is_replaced_for_the_same_message() -> None:
    sessions = Sessions()
    controller = Controller(sessions, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        pool = SmtpPool(SmtpConfig(host="127.0.0.1", port=controller.port), size=2)
        assert await pool.send_bytes(MESSAGE, ["b@example.com"], sender="a@example.com") == {}
        assert await pool.send_bytes(MESSAGE, ["b@example.com"], sender="a@example.com") == {}
        assert (sessions.connections, sessions.messages) == (1, 2), "the second message reused the connection"

        # The server drops the idle connection. The test waits for that on a thread event, blocking this event
        # loop on purpose: the client must not have read the close yet, as when a close crosses a new message.
        closed = threading.Event()
        session = sessions.last
        assert session is not None and session.transport is not None
        transport = session.transport

        def close() -> None:  # on the server's loop
            transport.close()
            closed.set()

        controller.loop.call_soon_threadsafe(close)
        assert closed.wait(5)

        assert await pool.send_bytes(MESSAGE, ["b@example.com"], sender="a@example.com") == {}
        assert (sessions.connections, sessions.messages) == (2, 3), "one new connection carried the same message"
    finally:
        controller.stop()
