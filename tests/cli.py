"""Running the real `conveyor` and `temporal` executables from async tests (the worker shares the event loop,
so a blocking `subprocess.run` would stall it)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from conveyor import Settings

BIN = Path(sys.executable).parent


@dataclass
class Ran:
    """A finished command."""

    code: int
    out: str
    err: str


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that points a `conveyor` process (a producer or a worker) at the test's servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_TEMPORAL_ADDRESS": settings.temporal_address,
        "CONVEYOR_TASK_QUEUE": settings.task_queue,
        "CONVEYOR_SMS_TASK_QUEUE": settings.sms_task_queue,
        "CONVEYOR_REPORTS_TASK_QUEUE": settings.reports_task_queue,
        "CONVEYOR_IMAGES_TASK_QUEUE": settings.images_task_queue,
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_DATA_DIR": str(settings.readable_dir),
        "CONVEYOR_SMTP_HOST": settings.smtp_host,
        "CONVEYOR_SMTP_PORT": str(settings.smtp_port),
        "CONVEYOR_SMTP_TLS": settings.smtp_tls.value,
        "CONVEYOR_SMTP_USERNAME": settings.smtp_username or "",
        "CONVEYOR_SMTP_PASSWORD": settings.smtp_password.get_secret_value() if settings.smtp_password else "",
        "CONVEYOR_SMTP_CA_FILE": str(settings.smtp_ca_file or ""),
        "CONVEYOR_MAIL_FROM": settings.mail_from,
        "CONVEYOR_METRICS_PORT": str(settings.metrics_port),
        "CONVEYOR_HEALTH_PORT": str(settings.health_port),
        "CONVEYOR_LOG_FORMAT": settings.log_format.value,
        "CONVEYOR_ALERT_WEBHOOK_ALLOW_INTERNAL": "true" if settings.alert_webhook_allow_internal else "",
    }
    return {k: v for k, v in env.items() if v}


async def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: bytes | None = None) -> Ran:
    """Run a command to its end (`stdin` as its standard input, if given); stdout and stderr as text."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def start_worker(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    """`conveyor worker ARGS` as its own process on the test's task queue (stop it with `stop_worker`)."""
    return await asyncio.create_subprocess_exec(
        str(BIN / "conveyor"), "worker", *args, env=env_for(settings), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def stop_worker(proc: asyncio.subprocess.Process, kill: bool = False) -> None:
    """SIGTERM (graceful) or SIGKILL a worker process and reap it."""
    if proc.returncode is None:
        proc.kill() if kill else proc.terminate()
    await asyncio.wait_for(proc.wait(), 60)


async def conveyor(settings: Settings, *args: str) -> Ran:
    """`conveyor ARGS` against the test's servers."""
    return await run(str(BIN / "conveyor"), *args, env=env_for(settings))
