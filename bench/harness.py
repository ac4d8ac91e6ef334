"""The real parts every case stands on: a Temporal dev server started exactly as `conveyor dev` starts it (file
SQLite in WAL mode, one task-queue partition), an SMTP sink, and workers as processes of their own.

Workers run as subprocesses so their RSS is theirs alone and so a wedged one (seen once in six high-concurrency
runs here: it stopped polling and ignored SIGTERM) can be SIGKILLed; every process started here is stopped on
leaving its block, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any, Self

from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.proc import rss_mb as rss_mb  # re-exported: the cases read worker RSS from here
from conveyor.dev.stack import start_server, stop_server, wait_for_server
from conveyor.settings import Settings
from tests.cli import env_for

PORTS = range(30000, 31000)
"""The ports this benchmark may listen on: below the kernel's ephemeral range (32768 up), where the dev server's
own outgoing connections could take one between this check and the worker's bind (seen once: a worker that could
not bind its metrics port never polled, and the broadcast case timed out)."""
BIN = Path(sys.executable).parent
ROOT = Path(__file__).parent.parent


_handed_out: set[int] = set()


def free_port() -> int:
    """A port of `PORTS` nobody listens on right now, and never one this process handed out before: a stack's
    settings take several ports before anything binds them (a run once gave its worker's health port to
    another of its listeners). Once half of them were handed out, the
    stacks that took the first are long gone: it starts over."""
    if len(_handed_out) > len(PORTS) // 2:
        _handed_out.clear()
    for port in random.sample(PORTS, len(PORTS)):
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class Sink:
    """aiosmtpd in a thread of this process, accepting every message and counting recipients."""

    def __init__(self) -> None:
        self.count = 0
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += len(envelope.rcpt_tos)
        return "250 OK"

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def bench_settings(home: Path, sink_port: int, **overrides: Any) -> Settings:
    """Settings for a fresh stack under `home`: free ports, the sink as SMTP server, Conveyor's worker defaults."""
    values: dict[str, Any] = {
        "temporal_address": f"127.0.0.1:{free_port()}",
        "dev_ui_port": free_port(),
        # Every listener on a port of its own: a worker of the previous case that is still exiting must not hold
        # the default metrics port (9000), health port (9010) or API port (8000) that the next `conveyor dev` binds.
        "metrics_port": free_port(),
        "health_port": free_port(),
        "api_port": free_port(),
        "smtp_port": sink_port,
        "home": home,
        "mail_from": "Bench <bench@conveyor.localhost>",
        "sms_rate_per_second": 1_000_000,  # the provider's limit, not a cost of Conveyor's: lifted to measure
        **overrides,
    }
    return Settings.model_validate(values)


@contextlib.asynccontextmanager
async def temporal(settings: Settings) -> AsyncIterator[Client]:
    """A dev server with `conveyor dev`'s flags on `settings.home`, and a client of it; stopped on leaving."""
    server = start_server(settings)
    try:
        yield await wait_for_server(settings, server)
    finally:
        stop_server(server)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment pointing a `conveyor worker` (or `conveyor dev`, or the raw worker) at the bench's server,
    queues and sink, with the worker settings the cases hold equal on both sides."""
    return env_for(settings) | {
        "CONVEYOR_SMTP_POOL_SIZE": str(settings.smtp_pool_size),
        "CONVEYOR_MAX_CONCURRENT_ACTIVITIES": str(settings.max_concurrent_activities),
        "CONVEYOR_DEV_UI_PORT": str(settings.dev_ui_port),
        "CONVEYOR_API_PORT": str(settings.api_port),  # `conveyor dev` serves the API: not on the shared 8000
        "CONVEYOR_SMS_RATE_PER_SECOND": str(settings.sms_rate_per_second),
        "PYTHONPATH": str(ROOT),
        **(
            {"CONVEYOR_WEBHOOK_ENDPOINTS": settings.as_env()["CONVEYOR_WEBHOOK_ENDPOINTS"]}
            if settings.webhook_endpoints
            else {}
        ),
    }


def kill(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds (a wedged worker ignores SIGTERM)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def pollers_ready(client: Client, queue: str, timeout: float = 30.0) -> None:
    """Wait until a worker polls both the workflow and the activity side of `queue`."""
    deadline = time.monotonic() + timeout
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        request = DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
        )
        while not (await client.workflow_service.describe_task_queue(request)).pollers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no worker polls {queue} after {timeout}s")
            await asyncio.sleep(0.05)  # polling a condition with a deadline


def spawn(command: list[str], settings: Settings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`command` in the repository root, with `settings` in its environment and its output in `log`."""
    return subprocess.Popen(
        command, env=worker_env(settings), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )


@contextlib.asynccontextmanager
async def worker(client: Client, settings: Settings, *command: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`command` (default `conveyor worker`) as a process of its own, once it polls; stopped on leaving."""
    with (settings.home / "worker.log").open("ab") as log:
        proc = spawn(list(command) or [str(BIN / "conveyor"), "worker"], settings, log)
        try:
            try:
                await pollers_ready(client, settings.task_queue)
            except TimeoutError as e:  # say why: the worker's own last words
                tail = (settings.home / "worker.log").read_text(errors="replace")[-2000:]
                raise TimeoutError(f"{e}; worker exit code {proc.poll()}, its log ends:\n{tail}") from None
            yield proc
        finally:
            kill(proc)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory for one stack's database, logs and files."""
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp:
        yield Path(tmp)
