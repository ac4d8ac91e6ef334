"""A team's `@job` function as the activity that is its job.

One generic wrapper for every such kind, so a team writes the function and nothing else: the input is checked as
the kind's request model (`decode`: bad input from any producer fails at once as `InvalidJob`), a plain function
runs in the worker's thread pool and a coroutine function on its loop, the job heartbeats what it reports through
`job.progress(...)` (`contracts.progress.REPORTER`), and it is kept alive by heartbeats while it runs (`alive`), so
a killed worker's job is retried after the kind's heartbeat timeout, not its whole attempt timeout.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.liveness import alive, beat
from contracts.inputs import any_inputs, decode
from contracts.kinds import JobKind
from contracts.progress import REPORTER, Progress


def job_activity(kind: JobKind, threads: ThreadPoolExecutor) -> Callable[..., Any]:
    """The activity (type `kind.runs_as`) running `kind.function`; plain functions run on `threads`."""
    function = kind.function
    if function is None:
        raise ValueError(f"job kind {kind.name!r} has no @job function")
    in_loop = inspect.iscoroutinefunction(function)

    @activity.defn(name=kind.runs_as)
    @any_inputs
    async def run(*raw: Any) -> Any:
        request = decode(raw, kind.request)
        loop = asyncio.get_running_loop()
        latest: tuple[Progress, BaseModel | None] = (Progress(stage=kind.stage), None)

        def report(progress: Progress, resume: BaseModel | None) -> None:
            nonlocal latest
            latest = (progress, resume)
            # Heartbeats are sent from the loop: a plain function reports from a pool thread.
            loop.call_soon_threadsafe(beat, progress, resume)

        REPORTER.set(report)
        async with alive(lambda: latest[0], lambda: latest[1]):
            if in_loop:
                return await function(request)
            context = contextvars.copy_context()  # the activity's context (info, heartbeat) in the thread too
            return await loop.run_in_executor(threads, context.run, function, request)

    return run
