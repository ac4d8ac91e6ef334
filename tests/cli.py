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
    """The environment that points a `conveyor` process at the test's servers and task queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_TEMPORAL_ADDRESS": settings.temporal_address,
        "CONVEYOR_TASK_QUEUE": settings.task_queue,
        "CONVEYOR_SMS_TASK_QUEUE": settings.sms_task_queue,
        "CONVEYOR_REPORTS_TASK_QUEUE": settings.reports_task_queue,
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_METRICS_PORT": str(settings.metrics_port),
        "CONVEYOR_LOG_FORMAT": settings.log_format.value,
    }
    return env


async def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Ran:
    """Run a command to its end; stdout and stderr as text."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


async def conveyor(settings: Settings, *args: str) -> Ran:
    """`conveyor ARGS` against the test's servers."""
    return await run(str(BIN / "conveyor"), *args, env=env_for(settings))
