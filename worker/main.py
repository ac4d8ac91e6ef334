"""`conveyor worker`: the production worker process, against a configured cluster."""

from __future__ import annotations

from conveyor.connection import connect
from conveyor.settings import Settings
from conveyor.telemetry import metrics_runtime
from worker.build import build_workers
from worker.run import run_until, stop_on_signals


async def run_worker(settings: Settings) -> None:
    """Connect, then run every task queue's worker until SIGTERM/SIGINT; metrics on `metrics_port`."""
    stop = stop_on_signals()
    client = await connect(settings, metrics_runtime(settings))
    await run_until(build_workers(client, settings), stop)
