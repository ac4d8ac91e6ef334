"""`TaskBackend`: Django's task API (`@task`, `.enqueue()`, `get_result()`) with Conveyor jobs behind it.

    TASKS = {
        "default": {
            "BACKEND": "conveyor.contrib.django.TaskBackend",
            "QUEUES": ["default", "reports"],
            "OPTIONS": {"ATTEMPTS": 5, "TIMEOUT": "10m", "TASKS": {"shop.tasks.export": {"TIMEOUT": "1h"}}},
        }
    }

Every check Django makes (queue, priority, `run_after`, a module-level function) and the arguments' JSON form are
made here before anything reaches Temporal, raising Django's own exceptions. An enqueued call is a standalone
activity of the task's own kind (`kinds`), so Conveyor's `list`, `status`, `failed`, `retry`, alerts, metrics and
the web UI show it like any job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from conveyor.contrib.django.calls import TaskCall
from conveyor.contrib.django.compat import BaseTaskBackend, Task, TaskResult, TaskResultStatus, task_enqueued
from conveyor.contrib.django.kinds import checked_options, priority_level, task_job
from conveyor.contrib.django.options import current_options
from conveyor.contrib.django.results import task_result
from conveyor.team_jobs import shared_jobs, shared_sync_jobs


class TaskBackend(BaseTaskBackend):
    """Django tasks run by Conveyor workers: durable, retried by policy, each call a job."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if not self.queues:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['QUEUES'] is empty: name the queues workers serve")
        checked_options(self.options)
        self.levels: int = self.options.get("PRIORITY_LEVELS", 5)

    def validate_task(self, task: Task) -> None:
        """Django's checks; then the task's kind is declared, so a process that imports it knows its jobs."""
        super().validate_task(task)
        task_job(task, self.queues, self.options)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Start the task's job; its `TaskResult` (READY) carries the job id."""
        call, options, ready = self._prepared(task, args, kwargs)
        enqueued = task_job(task, self.queues, self.options).enqueue(call, **options)
        return self._enqueued(ready, enqueued.id)

    async def aenqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """`enqueue` on the caller's event loop."""
        call, options, ready = self._prepared(task, args, kwargs)
        enqueued = await task_job(task, self.queues, self.options).aenqueue(call, **options)
        return self._enqueued(ready, enqueued.id)

    def get_result(self, result_id: str) -> TaskResult:
        """The task's result as its job stands now; `TaskResultDoesNotExist` if there is no such task."""
        return shared_sync_jobs().call(lambda jobs: task_result(jobs.client.get_activity_handle(result_id), result_id))

    async def aget_result(self, result_id: str) -> TaskResult:
        """`get_result` on the caller's event loop."""
        return await task_result((await shared_jobs()).client.get_activity_handle(result_id), result_id)

    def _prepared(self, task: Task, args: Any, kwargs: Any) -> tuple[TaskCall, dict[str, Any], TaskResult]:
        """The job's input and start options, and the result to hand back; Django's exceptions for bad input."""
        self.validate_task(task)
        # Django's own check of the arguments (TypeError / ValueError for what JSON cannot carry).
        ready = TaskResult(
            task=task,
            id="",
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        call = TaskCall(args=ready.args, kwargs=ready.kwargs, queue_name=task.queue_name, priority=task.priority)
        delay = None
        if task.run_after is not None:
            delay = max(task.run_after - timezone.now(), timedelta(0))
        options = {"delay": delay, "priority": priority_level(task.priority, self.levels)} | current_options()
        return call, options, ready

    def _enqueued(self, ready: TaskResult, job_id: str) -> TaskResult:
        result = TaskResult(
            **{name: getattr(ready, name) for name in TaskResult.__dataclass_fields__ if not name.startswith("_")}
            | {"id": job_id, "enqueued_at": timezone.now()}
        )
        task_enqueued.send(type(self), task_result=result)
        return result
