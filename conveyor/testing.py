"""A pytest plugin for testing a team's own jobs on a real Temporal server: off until a project enables it.

    # conftest.py
    pytest_plugins = ["conveyor.testing"]

    def test_welcome_mail_goes_out(conveyor_worker, outbox, wait_for_jobs):
        handle = send_welcome.enqueue(user_id=7)
        assert handle.result(timeout=30) == "sent"
        wait_for_jobs()
        assert outbox.emails[0].to == ["ann@example.com"]

What it starts, once per test session: a Temporal dev server (in memory, from the `temporal` binary Conveyor
installs), an SMTP outbox that keeps every message, and a worker hosting Conveyor's kinds and the project's own
(`CONVEYOR_JOBS`, the `conveyor.kinds` entry point, or any module of `@job` functions the tests import first), on
task queues of the session's own. `@job` handles and `conveyor_jobs` talk to it. Every fixture is a plain
(synchronous) one: the stack runs on an event loop of its own in a background thread, so the project needs no
async test plugin.

Fixtures: `conveyor_settings`, `conveyor_worker`, `conveyor_jobs` (a `SyncJobs`), `outbox` (the emails and texts
sent during the test) and `wait_for_jobs` (until the jobs on the session's queues have finished).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conveyor.settings import Settings
from conveyor.sync import SyncJobs
from conveyor.team_jobs import configure

T = TypeVar("T")
WAIT_TIMEOUT = 60.0
"""How long `wait_for_jobs()` waits by default, in seconds."""


@dataclass(frozen=True)
class Email:
    """One message a job sent: who to, its subject, its text and HTML parts."""

    to: list[str]
    subject: str
    text: str | None
    html: str | None
    job_id: str | None


@dataclass(frozen=True)
class Text:
    """One SMS a job sent."""

    to: str
    body: str
    job_id: str


@dataclass
class Outbox:
    """What jobs sent since the test began (read from the session's outboxes when asked)."""

    settings: Settings
    _since: float = field(default_factory=time.time)

    @property
    def emails(self) -> list[Email]:
        """The emails, in the order they arrived."""
        files = sorted(self.settings.outbox_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime)
        return [_email(p.read_bytes()) for p in files if p.stat().st_mtime >= self._since]

    @property
    def texts(self) -> list[Text]:
        """The texts, in the order they were sent."""
        import json
        from datetime import datetime

        path = self.settings.sms_outbox
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [
            Text(to=r["to"], body=r["body"], job_id=r["job_id"])
            for r in rows
            if datetime.fromisoformat(r["sent_at"]).timestamp() >= self._since
        ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _email(data: bytes) -> Email:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return Email(
        to=[a.strip() for a in str(message.get("To", "")).split(",") if a.strip()],
        subject=str(message.get("Subject", "")),
        text=text.get_content() if text is not None else None,
        html=html.get_content() if html is not None else None,
        job_id=message.get("X-Conveyor-Job-Id"),
    )


class Stack:
    """The session's dev server, outbox and worker, on an event loop of their own in a daemon thread."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="conveyor-testing", daemon=True)
        self.thread.start()
        self._stop: asyncio.Event | None = None
        self._done: asyncio.Future[None] | None = None
        self.settings = self.call(self._start())

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = 120) -> T:
        """Run `work` on the stack's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def _start(self) -> Settings:
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from conveyor import search_attributes
        from conveyor.dev.outbox import start_outbox
        from conveyor.dev.stack import temporal_binary
        from worker.build import build_workers
        from worker.run import running

        self.env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_binary()),
            data_converter=pydantic_data_converter,
            search_attributes=list(search_attributes.ALL),
        )
        queue = f"test-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            temporal_address=self.env.client.service_client.config.target_host,
            task_queue=queue,
            sms_task_queue=f"{queue}-sms",
            reports_task_queue=f"{queue}-reports",
            home=self.home,
            data_dir=self.home / "data",
            smtp_host="127.0.0.1",
            smtp_port=_free_port(),
            metrics_port=0,
        )
        self.smtp = await start_outbox(settings.outbox_dir, settings.smtp_host, settings.smtp_port)
        self._stop = asyncio.Event()
        started = asyncio.get_running_loop().create_future()

        async def serve() -> None:
            async with running(build_workers(self.env.client, settings)):
                started.set_result(None)
                assert self._stop is not None
                await self._stop.wait()

        self._done = asyncio.ensure_future(serve())
        await started
        return settings

    def open_jobs(self) -> set[str]:
        """Ids of the jobs on the session's queues that have not finished."""

        async def ask() -> set[str]:
            from worker.build import served_queues

            queues = " OR ".join(f"TaskQueue = '{q}'" for q in served_queues(self.settings))
            query = f"({queues}) AND ExecutionStatus = 'Running'"
            client = self.env.client
            found = {w.id async for w in client.list_workflows(query)}
            return found | {a.activity_id async for a in client.list_activities(query)}

        return self.call(ask())

    def close(self) -> None:
        async def stop() -> None:
            assert self._stop is not None and self._done is not None
            self._stop.set()
            await self._done
            self.smtp.close()
            await self.env.shutdown()

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def conveyor_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A Temporal dev server, an SMTP outbox and a worker hosting every registered kind, for the whole session;
    `@job` handles enqueue to it."""
    stack = Stack(tmp_path_factory.mktemp("conveyor"))
    configure(stack.settings)
    try:
        yield stack
    finally:
        configure(None)
        stack.close()


@pytest.fixture(scope="session")
def conveyor_settings(conveyor_worker: Stack) -> Settings:
    """The settings pointing at the session's server, outbox and queues."""
    return conveyor_worker.settings


@pytest.fixture(scope="session")
def conveyor_jobs(conveyor_worker: Stack) -> Iterator[SyncJobs]:
    """A client of the session's server: enqueue, status, list, failed, retry (blocking calls)."""
    with SyncJobs(conveyor_worker.settings) as jobs:
        yield jobs


@pytest.fixture
def outbox(conveyor_worker: Stack) -> Outbox:
    """The emails (`outbox.emails[0].to`, `.subject`, `.text`) and texts (`outbox.texts`) sent during this test."""
    return Outbox(conveyor_worker.settings)


@pytest.fixture
def wait_for_jobs(conveyor_worker: Stack) -> Callable[..., None]:
    """`wait_for_jobs(timeout=60)`: return once no job on the session's queues is still open; an
    `AssertionError` naming the open ones after `timeout` seconds."""

    def wait(timeout: float = WAIT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while open_ := conveyor_worker.open_jobs():
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still open after {timeout} s: {sorted(open_)}")
            time.sleep(0.1)  # noqa: sleep-ok (polling interval of a condition with a deadline)

    return wait
