"""Running workers until a signal: SIGTERM or SIGINT stops polling, lets running activities finish within the
graceful timeout, then returns, so orchestrators (systemd, Kubernetes, compose) can stop a worker safely."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from temporalio.worker import Worker

from activities import render_pool

log = logging.getLogger("conveyor.worker")


def stop_on_signals() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


@contextlib.asynccontextmanager
async def running(workers: list[Worker]) -> AsyncIterator[None]:
    """Run `workers` inside the block; on leaving it, shut them down gracefully (last started, first stopped). The
    render processes start meanwhile, so the first jobs rarely wait for them and polling never does."""
    warming = asyncio.create_task(render_pool.shared().warm())
    try:
        async with contextlib.AsyncExitStack() as stack:
            for w in workers:
                await stack.enter_async_context(w)
            yield
    finally:
        warming.cancel()


async def run_until(workers: list[Worker], stop: asyncio.Event) -> None:
    """Run `workers` until `stop` is set, then shut them down gracefully."""
    async with running(workers):
        log.info("worker polling %s", ", ".join(w.task_queue for w in workers))
        await stop.wait()
        log.info("stopping: finishing running activities")
    log.info("worker stopped")
