"""`conveyor worker`: the production worker process, against a configured cluster."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from conveyor.connection import connect
from conveyor.errors import ConveyorError
from conveyor.settings import Settings
from conveyor.telemetry import metrics_runtime
from worker.build import build_workers, served_queues
from worker.health import watching_loop, worker_meter
from worker.run import run_until, stop_on_signals
from worker.schedule_apply import apply_declared


class UnknownQueue(ConveyorError, ValueError):
    """`--queues` named a task queue that no Conveyor worker serves."""


def chosen_queues(settings: Settings, requested: Sequence[str]) -> list[str]:
    """The queues `--queues` asks for (repeated and/or comma-separated), checked before anything connects, so a
    typo fails the deploy at once instead of leaving a queue without workers. None asked: all of them."""
    known = served_queues(settings)
    names = [name.strip() for item in requested for name in item.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownQueue(f"unknown task queue(s) {', '.join(unknown)}; the queues are {', '.join(known)}")
    return [name for name in known if name in names] or known


async def run_worker(settings: Settings, apply_schedules: bool = False, queues: Collection[str] = ()) -> None:
    """Connect (and apply the declared schedules if asked), then run the workers of `queues` (default: every
    task queue) until a signal; metrics on `metrics_port`, the event loop's health on `health_port`."""
    stop = stop_on_signals()
    runtime = metrics_runtime(settings)
    client = await connect(settings, runtime)
    if apply_schedules:
        await apply_declared(client, settings)
    async with watching_loop(settings, worker_meter(runtime)):
        await run_until(build_workers(client, settings, queues or None), stop)
