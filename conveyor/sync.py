"""`SyncJobs`: every operation of `Jobs` as a plain blocking call, for Django and Flask views, management commands
and scripts — code that has no event loop and should not have to start one.

    jobs = SyncJobs()                       # nothing connects yet: safe at import time
    handle = jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
    handle.result(timeout=60)

Why a loop thread, not `asyncio.run` per call: a Temporal client is bound to the event loop that created it, and
connecting costs a round trip, so one long-lived loop in a daemon thread owns one `Jobs`; every call is submitted
to it with `run_coroutine_threadsafe`. That makes an instance safe to share between the threads of a WSGI server:
calls from many threads interleave on the one loop like concurrent tasks.

The methods are made from `Jobs`'s own, so their arguments, types and docstrings are `Jobs`'s: a new operation on
`Jobs` needs one line here.
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from contracts.kinds import JobKind
from conveyor.client import BulkJob, JobHandle, Jobs
from conveyor.errors import ConveyorError
from conveyor.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


class JobTimeout(ConveyorError, TimeoutError):
    """A blocking wait ran out of time; the job itself goes on."""


@dataclass(frozen=True)
class SyncJobHandle:
    """A job that was enqueued through `SyncJobs`: its id, and a blocking wait for its result."""

    id: str
    kind: JobKind | None
    _handle: JobHandle
    _jobs: SyncJobs

    def result(self, timeout: float | None = None) -> Any:
        """Block until the job ends: its result model, `JobFailed` naming the failure, or `JobTimeout` after
        `timeout` seconds (the job goes on)."""
        return self._jobs.call(lambda _: self._handle.result(), timeout)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run `loop` until `close()` stops it, then end it the way `asyncio.run` ends its loop —
    calls still waiting (a `result()` whose caller timed out) are cancelled and finish on the loop, and the loop is
    closed on its own thread. Nothing of ours is left pending on a closed loop for the Temporal client's threads
    to complete later."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()


def _blocking(method: Callable[Concatenate[Jobs, P], Coroutine[Any, Any, R]]) -> Callable[Concatenate[SyncJobs, P], R]:
    """`Jobs.<method>` as a blocking method of `SyncJobs`, with the same signature and docstring."""

    @wraps(method)
    def call(self: SyncJobs, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.call(lambda jobs: method(jobs, *args, **kwargs))

    return call


def _enqueuing(
    method: Callable[Concatenate[Jobs, P], Coroutine[Any, Any, JobHandle]],
) -> Callable[Concatenate[SyncJobs, P], SyncJobHandle]:
    """Like `_blocking`, for methods that enqueue: the handle they return waits without an event loop too."""

    @wraps(method)
    def call(self: SyncJobs, *args: P.args, **kwargs: P.kwargs) -> SyncJobHandle:
        return self.wrap(self.call(lambda jobs: method(jobs, *args, **kwargs)))

    return call


class SyncJobs:
    """`Jobs` without `await`: the same operations as blocking calls, safe to call from several threads.

    It connects on first use (to `settings`, default the `CONVEYOR_*` variables), so a module can create one at
    import time. `close()` stops its loop thread; a daemon thread, it never keeps a process from exiting.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._jobs: Jobs | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._connect_lock: asyncio.Lock | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        """The loop thread, started on first use (once, whichever thread gets here first)."""
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name="conveyor-sync-jobs", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
                # Stop the loop before the interpreter finalizes, so no task of ours runs while it tears down
                # (the Temporal SDK can still crash a short script's exit: temporalio/sdk-python#300).
                atexit.register(self.close)
            return self._loop

    def call(self, work: Callable[[Jobs], Coroutine[Any, Any, R]], timeout: float | None = None) -> R:
        """Run `work(jobs)` on the loop thread and block for its result; `JobTimeout` after `timeout` seconds."""
        future = asyncio.run_coroutine_threadsafe(self._connected(work), self._ensure_loop())
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise JobTimeout(f"no result within {timeout} s; the job goes on") from None

    async def _connected(self, work: Callable[[Jobs], Coroutine[Any, Any, R]]) -> R:
        """`work` on the connected client (the first call connects; calls made meanwhile wait for it)."""
        if self._jobs is None:
            if self._connect_lock is None:
                self._connect_lock = asyncio.Lock()
            async with self._connect_lock:
                if self._jobs is None:
                    self._jobs = await Jobs.connect(self.settings)
        return await work(self._jobs)

    def wrap(self, handle: JobHandle) -> SyncJobHandle:
        """A blocking handle on an async one."""
        return SyncJobHandle(handle.id, handle.kind, handle, self)

    def close(self) -> None:
        """Stop the loop thread (calls after this start a new one)."""
        with self._start_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._jobs = None
            self._connect_lock = None
        if loop is not None and thread is not None:
            atexit.unregister(self.close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    def __enter__(self) -> SyncJobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    email = _enqueuing(Jobs.email)
    sms = _enqueuing(Jobs.sms)
    report = _enqueuing(Jobs.report)
    image = _enqueuing(Jobs.image)
    image_batch = _enqueuing(Jobs.image_batch)
    broadcast = _enqueuing(Jobs.broadcast)
    webhook = _enqueuing(Jobs.webhook)
    signal_event = _enqueuing(Jobs.signal_event)
    enqueue = _enqueuing(Jobs.enqueue)
    locate = _enqueuing(Jobs.locate)
    status = _blocking(Jobs.status)
    input = _blocking(Jobs.input)
    retry = _blocking(Jobs.retry)
    retry_failed = _blocking(Jobs.retry_failed)
    cancel = _blocking(Jobs.cancel)
    run_now = _blocking(Jobs.run_now)
    failed = _blocking(Jobs.failed)
    list = _blocking(Jobs.list)
    stats = _blocking(Jobs.stats)

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends: its result, `JobFailed`, or `JobTimeout` after `timeout` seconds."""
        return self.call(lambda jobs: jobs.result(job_id), timeout)

    def webhook_event(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        concurrency: int = 50,
        tenant: str | None = None,
    ) -> builtins.list[SyncJobHandle | ConveyorError]:
        """One webhook job per enabled endpoint subscribed to `event_type`; each item is a handle or its error."""
        done = self.call(
            lambda jobs: jobs.webhook_event(event_type, payload, key=key, concurrency=concurrency, tenant=tenant)
        )
        return [self.wrap(item) if isinstance(item, JobHandle) else item for item in done]

    def bulk(self, items: Iterable[BulkJob], *, concurrency: int = 50) -> builtins.list[SyncJobHandle | ConveyorError]:
        """Enqueue many jobs, at most `concurrency` at a time; each item gets its handle or its error, in order."""
        done = self.call(lambda jobs: jobs.bulk(items, concurrency=concurrency))
        return [self.wrap(item) if isinstance(item, JobHandle) else item for item in done]
