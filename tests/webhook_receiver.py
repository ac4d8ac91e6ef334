"""A real HTTP receiver of webhooks on loopback: answers each path from a script, verifies every signature with
`standardwebhooks` (an independent implementation), and counts the connections made to it."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import SecretStr
from standardwebhooks import Webhook

from contracts.webhook import WebhookEndpoint


def new_secret(seed: int = 0) -> str:
    """A `whsec_` signing secret (32 bytes of key)."""
    return "whsec_" + base64.b64encode(bytes([seed]) * 32).decode()


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a status, headers, a body (or `size` bytes of one, streamed, or one byte every `drip`
    seconds until the client goes or the receiver stops), or no answer at all."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    hang: bool = False
    drip: float | None = None


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified_by: list[int]
    """Which of the receiver's secrets (by index) verified the signature."""


class Receiver:
    """Loopback webhook receiver. `script(path, answers)` sets what a path answers, one answer per request (the
    last one repeats); `secrets` are those it verifies with."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.received: list[Received] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.connections = 0
        self.streamed = 0
        """Bytes of large (`size`) bodies written before the client stopped reading."""
        self.release = threading.Event()
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(index)
                    except Exception:
                        pass
                with receiver.arrived:
                    receiver.received.append(Received(self.path, headers, body, time.monotonic(), verified))
                    script = receiver.scripts.get(self.path, [Answer()])
                    answer = script.pop(0) if len(script) > 1 else script[0]
                    receiver.arrived.notify_all()
                if answer.hang:
                    receiver.release.wait()
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                length = answer.size if answer.size is not None else len(answer.body)
                self.send_header("Content-Length", str(length if answer.drip is None else 2**20))
                self.end_headers()
                if answer.drip is not None:
                    try:  # a trickle, paced by the release event, so the receiver's stop ends it
                        while not receiver.release.wait(answer.drip):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                    except OSError:
                        pass
                    self.close_connection = True  # the promised length was never sent
                    return
                if answer.size is None:
                    self.wfile.write(answer.body)
                    return
                chunk = b"x" * 65536
                try:
                    for _ in range(answer.size // len(chunk)):
                        self.wfile.write(chunk)
                        receiver.streamed += len(chunk)
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # the default backlog of 5 drops connects beyond it: a 1 s SYN retry each

            def get_request(self) -> Any:
                request = super().get_request()
                receiver.connections += 1
                return request

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> str:
        """Make `path` answer `answers` in turn; its URL."""
        self.scripts[path] = list(answers) or [Answer()]
        return self.url(path)

    def endpoint(self, path: str, *answers: Answer, **options: Any) -> WebhookEndpoint:
        """An endpoint (allowed internal: it is on loopback) delivering to `path`, signed with every secret."""
        options.setdefault("secrets", [SecretStr(s) for s in self.secrets])
        return WebhookEndpoint(url=SecretStr(self.script(path, *answers)), allow_internal=True, **options)

    def at(self, path: str) -> list[Received]:
        """The requests `path` got so far."""
        with self.arrived:
            return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 60) -> list[Received]:
        """The requests to `path` once there are `count` (or after `timeout` seconds), waited for in a thread so
        the test's event loop (and the worker on it) goes on."""

        def arrived() -> None:
            with self.arrived:
                self.arrived.wait_for(lambda: len([r for r in self.received if r.path == path]) >= count, timeout)

        await asyncio.to_thread(arrived)
        return self.at(path)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def all_verified(requests: Iterator[Received] | list[Received]) -> bool:
    """Whether every request's signature verified with at least one secret."""
    return all(r.verified_by for r in requests)
