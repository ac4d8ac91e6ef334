"""How a worker runs a Django task: as Django's request cycle runs a view.

Database connections are closed before and after each task when they are unusable or past `CONN_MAX_AGE`
(`close_old_connections`, what Django does around every request), so a long-lived worker never reuses a
connection the database dropped. A plain task runs in the worker's thread pool, a coroutine task on its loop
(`activities.team_jobs`). `takes_context=True` gets a `TaskContext` whose `attempt` is Temporal's attempt number.
An exception leaves as a failure typed by its class path (`myapp.errors.Rejected`), with its traceback, secret
settings' values blanked; a `NEVER_RETRY` class fails the task at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import traceback
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from pydantic import JsonValue
from temporalio import activity
from temporalio.exceptions import ApplicationError

from conveyor.contrib.django.calls import FirstStart, TaskCall
from conveyor.contrib.django.compat import Task, TaskContext, TaskResult, TaskResultStatus
from conveyor.team_jobs import job

WORKER_ID = f"{os.getpid()}@{socket.gethostname()}"
"""This worker as Temporal names it (its default identity), for `worker_ids`."""

REDACTED = "********************"


def runner(task: Task, never_retry: tuple[type[Exception], ...]) -> Callable[[TaskCall], Any]:
    """The function the worker runs for each call of `task` (a coroutine function for a coroutine task)."""
    if iscoroutinefunction(task.func):

        async def run_async(call: TaskCall) -> JsonValue:
            first = first_start()
            await sync_to_async(close_old_connections)()
            try:
                with failures(never_retry):
                    return await task.func(*arguments(task, call, first), **call.kwargs)
            finally:
                await sync_to_async(close_old_connections)()

        return run_async

    def run(call: TaskCall) -> JsonValue:
        first = first_start()
        close_old_connections()
        try:
            with failures(never_retry):
                return task.func(*arguments(task, call, first), **call.kwargs)
        finally:
            close_old_connections()

    return run


def first_start() -> datetime | None:
    """When this task's first attempt started, reported again so the next attempt and `get_result` (its
    `started_at`) know it; None outside a worker (the task called inline)."""
    if not activity.in_activity():
        return None
    first = job.resumed(FirstStart) or FirstStart(at=activity.info().started_time.isoformat())
    job.progress(resume=first)
    return datetime.fromisoformat(first.at)


def arguments(task: Task, call: TaskCall, first: datetime | None) -> list[Any]:
    """The positional arguments of the call, its context first for a task that takes one."""
    if not task.takes_context or not activity.in_activity():
        return list(call.args)
    info = activity.info()
    result = TaskResult(
        task=task.using(queue_name=call.queue_name, priority=call.priority),
        id=info.activity_id,
        status=TaskResultStatus.RUNNING,
        enqueued_at=None,
        started_at=first,
        finished_at=None,
        last_attempted_at=info.started_time,
        args=list(call.args),
        kwargs=dict(call.kwargs),
        backend=task.backend,
        errors=[],
        # Temporal records the worker of the latest attempt only: one entry per attempt, so `attempt` is right.
        worker_ids=[WORKER_ID] * info.attempt,
    )
    return [TaskContext(task_result=result), *call.args]


@contextlib.contextmanager
def failures(never_retry: tuple[type[Exception], ...]) -> Iterator[None]:
    """A task's exception as the failure `get_result` reads back (`TaskError`: class path and traceback)."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as e:
        cls = type(e)
        raise ApplicationError(
            redacted(str(e)) or cls.__name__,
            {"traceback": redacted("".join(traceback.format_exception(e)))},
            type=f"{cls.__module__}.{cls.__qualname__}",
            non_retryable=isinstance(e, never_retry),
        ) from None


def redacted(text: str) -> str:
    """`text` with the values of the settings Django hides on its error pages (`SECRET_KEY`, `*_PASSWORD`,
    `*_TOKEN`, ... nested too, e.g. `DATABASES`' passwords) blanked out."""
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    return text


@functools.cache
def _secrets() -> list[str]:
    """Read once per worker (settings do not change while it runs), with Django's warnings about reading
    deprecated settings silenced: the walk reads every setting, as Django's error pages do."""
    from django.conf import settings
    from django.views.debug import SafeExceptionReporterFilter

    hidden = SafeExceptionReporterFilter.hidden_settings
    found: list[str] = []

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(str(key), item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(name, item)
        elif isinstance(value, str) and len(value) >= 4 and hidden.search(name):
            found.append(value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in dir(settings):
            if name.isupper():
                walk(name, getattr(settings, name))
    return sorted(found, key=len, reverse=True)
