"""Real processes a scenario can kill: a Temporal dev server of its own, a `conveyor worker` subprocess and its
memory, read from /proc.

The worker gets every setting of the test (SMTP server and password, AWS endpoint and secret, webhook URL) as
`CONVEYOR_*` variables, exactly as a deployment would pass them, and writes its log to a file the test reads:
to see it is polling, and to grep it for secrets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pydantic import SecretStr

from conveyor import Settings
from conveyor.dev.stack import start_server, stop_server, wait_for_server
from tests.cli import BIN
from tests.waiting import eventually

ROOT = Path(__file__).parent.parent.parent


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a `conveyor` process every one of `settings` (secrets in clear, as a
    deployment passes them), plus `extra` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"CONVEYOR_{name.upper()}"] = str(value)
    return env | extra


def rss_kb(pid: int) -> tuple[int, int]:
    """(resident set size now, its peak) of process `pid` in kB, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


@dataclass
class WorkerProcess:
    """A running `conveyor worker`: its pid, its log file, and ways to end it."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> tuple[int, int]:
        """(RSS now, peak RSS) in kB."""
        return rss_kb(self.pid)

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown, running activities are abandoned mid-flight."""
        if self.process.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait for a graceful exit (SIGKILL after `timeout`); the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                await self.kill()
        return self.process.returncode or 0


@asynccontextmanager
async def worker_process(settings: Settings, log: Path, **extra_env: str) -> AsyncIterator[WorkerProcess]:
    """`conveyor worker` for `settings`, once it logged that it polls; stopped (or killed) on leaving."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "conveyor"), "worker", cwd=ROOT, env=settings_env(settings, **extra_env),
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    worker = WorkerProcess(process, log)
    try:
        await eventually(
            lambda: _log_text(worker), lambda text: "worker polling" in text or process.returncode is not None, 60
        )
        assert process.returncode is None, f"worker exited: {log.read_text()[-2000:]}"
        yield worker
    finally:
        await worker.stop()


async def _log_text(worker: WorkerProcess) -> str:
    return worker.log.read_text(errors="replace")


@asynccontextmanager
async def own_server(settings: Settings) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """The dev server (as `conveyor dev` runs it) on `settings.home`/temporal.db and `settings.temporal_address`;
    the list holds the current process (a restart appends the new one)."""
    servers = [start_server(settings)]
    try:
        await wait_for_server(settings, servers[0])
        yield servers
    finally:
        stop_server(servers[-1])
