"""A Django task as a Conveyor job kind of its own, made by the `@job` machinery (`conveyor.team_jobs`).

Each task function (`myapp.tasks.send_receipt`) is one activity-shaped kind: its activity type is the task's
import path, so any process can find the task from a job's description; its kind name (job-id prefix, `conveyor
list --kind`) is that path in the registry's alphabet (`myapp_tasks_send_receipt`; a path over 31 characters keeps
its tail and a digest). Its input is the call as Django records it (`TaskCall`: JSON args and kwargs, and the
queue and priority it was enqueued with); its policy row comes from the backend's `OPTIONS`, per task if named
there. A task's queue is chosen per call (`.using(queue_name=...)`), so the kind names the queue from its input,
and workers host it on every queue of the backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from contracts.kinds import KINDS, NAME
from contracts.policy import JobPolicy
from conveyor.contrib.django.calls import TaskCall, task_queue
from conveyor.contrib.django.compat import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task
from conveyor.contrib.django.running import runner
from conveyor.team_jobs import JobFunction, job

POLICY_OPTIONS = {
    "ATTEMPTS": "attempts",
    "TIMEOUT": "timeout",
    "FIRST_RETRY": "first_retry",
    "BACKOFF": "backoff",
    "MAX_RETRY_WAIT": "max_retry_wait",
    "HEARTBEAT": "heartbeat",
}
"""`OPTIONS` keys (backend-wide, or per task under `TASKS`) and the `@job` argument each one sets."""

OPTIONS = {*POLICY_OPTIONS, "NEVER_RETRY", "TASKS", "PRIORITY_LEVELS", "MODULES"}


def kind_name(path: str) -> str:
    """The kind name of the task at import path `path`."""
    name = re.sub(r"[^a-z0-9_]", "_", path.lower()).lstrip("_0123456789") or "task"
    if NAME.match(name):
        return name
    digest = hashlib.sha256(path.encode()).hexdigest()[:6]
    return f"{name[-24:].lstrip('_0123456789')}_{digest}"


def priority_level(priority: int, levels: int) -> int:
    """Django's priority (larger runs sooner, -100 to 100) as Temporal's priority key (1 runs first, `levels`
    last), in equal bands: with 5 levels 100…60 → 1, 59…20 → 2, 19…-20 → 3 (0, Django's default, is 3,
    Conveyor's), -21…-60 → 4, -61…-100 → 5."""
    span = TASK_MAX_PRIORITY - TASK_MIN_PRIORITY + 1
    return (TASK_MAX_PRIORITY - priority) * levels // span + 1


def checked_options(options: Mapping[str, Any]) -> None:
    """`ImproperlyConfigured` for an `OPTIONS` key this backend does not read (a typo would silently do nothing),
    a duration or exception path that does not parse, or priority levels Conveyor does not have: when Django
    creates the backend, not at a task's first enqueue."""
    unknown = sorted(set(options) - OPTIONS) + sorted(
        f"TASKS[{path!r}][{key!r}]"
        for path, row in dict(options.get("TASKS", {})).items()
        for key in row
        if key not in {*POLICY_OPTIONS, "NEVER_RETRY"}
    )
    if unknown:
        raise ImproperlyConfigured(f"Conveyor's TaskBackend has no option {', '.join(unknown)}")
    levels = options.get("PRIORITY_LEVELS", 5)
    if not isinstance(levels, int) or not 1 <= levels <= 5:
        raise ImproperlyConfigured("PRIORITY_LEVELS is 1 to 5 (Conveyor's priorities)")
    for path in ("", *dict(options.get("TASKS", {}))):
        policy_of(options, path)


def policy_of(options: Mapping[str, Any], path: str) -> tuple[JobPolicy, tuple[type[Exception], ...]]:
    """The policy row of the task at `path` (the backend's `OPTIONS`, then its own under `TASKS`), as `@job`
    makes it, and its never-retry classes; the row names those by the type a failed task's error carries: its
    class path."""
    row = {**options, **dict(options.get("TASKS", {})).get(path, {})}
    try:
        never_retry = tuple(import_string(name) for name in row.get("NEVER_RETRY", ()))
        declared = job(never_retry=never_retry, **{arg: row[key] for key, arg in POLICY_OPTIONS.items() if key in row})
    except (ImportError, ValueError, TypeError) as e:
        raise ImproperlyConfigured(f"Conveyor's TaskBackend OPTIONS{f' for {path}' if path else ''}: {e}") from e
    names = {e.__name__ for e in never_retry}
    kept = tuple(n for n in declared.policy.never_retry if n not in names)
    paths = tuple(f"{e.__module__}.{e.__qualname__}" for e in never_retry)
    return dataclasses.replace(declared.policy, never_retry=(*kept, *paths)), never_retry


_declared: dict[str, JobFunction[..., Any]] = {}
_declaring = threading.Lock()


def task_job(task: Task, queues: Collection[str], options: Mapping[str, Any]) -> JobFunction[..., Any]:
    """The job kind of `task`'s function, declared the first time it is seen (the `@task` decorator validating it,
    in every process that imports the task's module) and the same one after."""
    path = task.module_path
    with _declaring:
        if path not in _declared:
            _declared[path] = _declare(task, queues, options)
        return _declared[path]


def _declare(task: Task, queues: Collection[str], options: Mapping[str, Any]) -> JobFunction[..., Any]:
    policy, never_retry = policy_of(options, task.module_path)
    function = JobFunction(
        runner(task, never_retry),
        kind_name(task.module_path),
        policy,
        (),
        queue=task_queue,
        hosted_on=tuple(task_queue(TaskCall(queue_name=q)) for q in sorted(queues)),
        runs_as=task.module_path,
    )
    KINDS.add(function.kind)
    return function
