"""The raw-temporalio baselines: a workflow running one trivial activity, or that activity started on its own as a
standalone activity; and their worker process.

    python -m bench.raw        # a worker on CONVEYOR_TASK_QUEUE, with Conveyor's worker settings

The worker is built with the same settings as Conveyor's email worker (sandbox runner, slots, data converter), so
the difference between the two is what Conveyor does per job, not how the worker is tuned.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

RAW_WORKFLOW = "BenchTrivial"
RAW_ACTIVITY = "bench_noop"
"""The trivial activity, also started on its own (`client.start_activity`) as the standalone baseline."""


@activity.defn(name=RAW_ACTIVITY)
async def noop(value: str) -> str:
    """Does nothing: the baseline's one activity."""
    return value


RAW_POST = "bench_post"
"""The webhook baseline: the same httpx POST as a webhook delivery, as a bare standalone activity."""
_http: Any = None


@activity.defn(name=RAW_POST)
async def post(request: dict[str, str]) -> int:
    """POST `request["body"]` to `request["url"]` over one pooled httpx client: a webhook with nothing around it."""
    global _http
    import httpx

    if _http is None:
        _http = httpx.AsyncClient(limits=httpx.Limits(max_connections=10))
    response = await _http.post(request["url"], content=request["body"], headers={"content-type": "application/json"})
    return response.status_code


@workflow.defn(name=RAW_WORKFLOW)
class Trivial:
    """One trivial activity, then done: one trip through the task queue, as one email job makes."""

    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(noop, value, start_to_close_timeout=timedelta(seconds=30))


async def serve() -> None:
    """Run the baseline worker until SIGTERM."""
    from temporalio.worker import Worker

    from conveyor.connection import connect
    from conveyor.settings import Settings
    from worker.build import WORKFLOW_RUNNER
    from worker.run import run_until, stop_on_signals

    settings = Settings()
    stop = stop_on_signals()
    client = await connect(settings)
    raw = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[Trivial],
        activities=[noop, post],
        workflow_runner=WORKFLOW_RUNNER,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )
    await run_until([raw], stop)


if __name__ == "__main__":  # the sandbox re-imports this module: serve only when run as a script
    asyncio.run(serve())
