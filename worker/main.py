"""`conveyor worker`: the production worker process, against a configured cluster."""

from __future__ import annotations

from conveyor.connection import connect
from conveyor.settings import Settings
from conveyor.telemetry import metrics_runtime
from worker.build import build_workers
from worker.run import run_until, stop_on_signals
from worker.schedule_apply import apply_declared


async def run_worker(settings: Settings, apply_schedules: bool = False) -> None:
    """Connect (and apply the declared schedules if asked), then run every task queue's worker until a signal;
    metrics on `metrics_port`."""
    stop = stop_on_signals()
    client = await connect(settings, metrics_runtime(settings))
    if apply_schedules:
        await apply_declared(client, settings)
    await run_until(build_workers(client, settings), stop)
