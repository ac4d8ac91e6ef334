"""A real SMTP server for tests: aiosmtpd requiring STARTTLS and AUTH, with faults chosen per recipient.

`server.fail(address, 451, times=2)` makes the next two RCPTs of `address` answer 451 (transient);
`server.fail(address, 550)` refuses it for good. Accepted messages are kept parsed, in order.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "conveyor", "s3cret-smtp-password-for-tests"


_handed_out: set[int] = set()
_draw = random.Random()  # its own generator: pytest-randomly reseeds the global one to the same value every test


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux's default range starts at 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port nobody uses right now, below the ephemeral range and never handed out twice in this run.

    Not `bind(0)`: that port comes from the range the kernel also gives outgoing connections, and the test servers'
    own loopback connections (the Temporal dev server makes many) took one between this call and the server's bind
    (a CI run saw `conveyor dev` refuse its API port that way)."""
    floor = _ephemeral_floor()
    while True:
        port = _draw.randrange(10_000, floor)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@dataclass
class Received:
    """One accepted message: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Handler:
    """Keeps messages; answers RCPT with the planned faults."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: dict[str, deque[int]] = defaultdict(deque)
        self.rcpt_attempts: dict[str, int] = defaultdict(int)
        self.data_faults: dict[str, int] = defaultdict(int)
        self.deferred: list[Received] = []
        self.holds: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.lock:
            self.rcpt_attempts[address] += 1
            planned = self.faults[address]
            code = planned[0] if planned else None
            if code is not None and code < 500:
                planned.popleft()  # a transient fault is used up; a permanent refusal stays
        if code is not None:
            return f"{code} {'4.7.1 try again later' if code < 500 else '5.1.1 mailbox unavailable'}"
        hold = self.holds.get(address)
        if hold is not None:
            await asyncio.to_thread(hold.wait, 60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), msg)
        with self.lock:
            if any(self.data_faults[r] > 0 for r in got.rcpt_tos):
                for r in got.rcpt_tos:
                    self.data_faults[r] = max(0, self.data_faults[r] - 1)
                self.deferred.append(got)
                return "451 4.3.0 message deferred after DATA"
            self.received.append(got)
        return "250 Message accepted"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers a failure with 535, as servers do


class SmtpServer:
    """The running server: where it is, how to trust it, what it received."""

    def __init__(self, tmp: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = tmp / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.context = context
        self.handler = Handler()
        self.port = free_port()
        self.controller = self._controller()
        self.up = False

    def _controller(self) -> Controller:
        return Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=True,
        )

    def start(self) -> None:
        self.controller.start()
        self.up = True

    def stop(self) -> None:
        """Stop listening (an outage, when started again later: same port, same messages kept)."""
        if self.up:
            self.controller.stop()
            self.controller = self._controller()  # an aiosmtpd controller cannot start twice
            self.up = False

    def fail(self, address: str, code: int, times: int = 1) -> None:
        """Answer RCPT of `address` with `code`: `times` times for 4xx, for good for 5xx."""
        with self.handler.lock:
            self.handler.faults[address].extend([code] * (times if code < 500 else 1))

    def heal(self, address: str) -> None:
        """Forget the faults planned for `address`: the cause of its failures is fixed."""
        with self.handler.lock:
            self.handler.faults.pop(address, None)

    def hold(self, address: str) -> threading.Event:
        """Keep sends to `address` waiting at RCPT until the returned event is set (a job stays `running`)."""
        event = threading.Event()
        self.handler.holds[address] = event
        return event

    def defer_data(self, address: str, times: int = 1) -> None:
        """Answer 451 after the whole message of `address` arrived, `times` times (kept in `deferred`)."""
        with self.handler.lock:
            self.handler.data_faults[address] += times

    def to(self, address: str) -> list[EmailMessage]:
        """Messages delivered to `address` (envelope recipient, so Bcc counts)."""
        return [r.message for r in self.handler.received if address in r.rcpt_tos]

    def attempts(self, address: str) -> int:
        """How many times a client tried to send to `address`."""
        return self.handler.rcpt_attempts[address]
