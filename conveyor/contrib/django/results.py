"""A task's job, as Django's `TaskResult`: read from one describe of its standalone activity.

Temporal keeps a job's latest attempt (its start, its worker, its failure) and its attempt count; the first start
rides in the job's heartbeat (`calls.FirstStart`). So `errors` holds the latest failure, and `worker_ids` one entry
per attempt, each the latest attempt's worker (`attempts`, its length, is exact).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.utils.module_loading import import_string
from temporalio.api.failure.v1 import Failure as FailureProto
from temporalio.client import ActivityExecutionDescription, ActivityHandle
from temporalio.service import RPCError, RPCStatusCode

from contracts.states import JobState
from conveyor.contrib.django.calls import FirstStart, TaskCall
from conveyor.contrib.django.compat import Task, TaskError, TaskResult, TaskResultDoesNotExist, TaskResultStatus
from conveyor.status import activity_state

STATUS = {
    JobState.QUEUED: TaskResultStatus.READY,
    JobState.SCHEDULED: TaskResultStatus.READY,
    JobState.RETRYING: TaskResultStatus.READY,  # "ready to be executed again", in Django's words
    JobState.RUNNING: TaskResultStatus.RUNNING,
    JobState.COMPLETED: TaskResultStatus.SUCCESSFUL,
}
"""Conveyor's job states as Django's task statuses; the rest (failed, cancelled, terminated, timed out) FAILED."""


async def task_result(handle: ActivityHandle[Any], result_id: str) -> TaskResult:
    """The `TaskResult` of the job `result_id`; `TaskResultDoesNotExist` when there is none, or it is not a
    Django task's."""
    try:
        desc = await handle.describe(
            include_input=True, include_outcome=True, include_heartbeat_details=True, include_last_failure=True
        )
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise TaskResultDoesNotExist(result_id) from None
        raise
    task = _task(desc.activity_type)
    if task is None or desc.raw_input is None or not desc.raw_input.payloads:
        raise TaskResultDoesNotExist(result_id)
    call = TaskCall.model_validate_json(desc.raw_input.payloads[0].data)
    state = activity_state(desc)
    status = STATUS.get(state, TaskResultStatus.FAILED)
    started = desc.last_started_time is not None
    attempts = desc.attempt if started and state is not JobState.RETRYING else desc.attempt - 1
    run_after = desc.execution_time if desc.start_delay else None
    result = TaskResult(
        task=task.using(queue_name=call.queue_name, priority=call.priority, run_after=run_after),
        id=result_id,
        status=status,
        enqueued_at=desc.schedule_time,
        started_at=_first_start(desc) or desc.last_started_time,
        finished_at=desc.close_time,
        last_attempted_at=desc.last_started_time,
        args=list(call.args),
        kwargs=dict(call.kwargs),
        backend=task.backend,
        errors=[_error(f) for f in [_latest_failure(desc)] if f is not None],
        worker_ids=[desc.last_worker_identity or ""] * max(attempts, 0),
    )
    if status is TaskResultStatus.SUCCESSFUL and desc.raw_outcome is not None and desc.raw_outcome.result.payloads:
        object.__setattr__(result, "_return_value", json.loads(desc.raw_outcome.result.payloads[0].data))
    return result


def _task(activity_type: str) -> Task | None:
    """The task at the import path a job's activity type is (importing its module declares its kind here)."""
    try:
        found = import_string(activity_type)
    except ImportError:
        return None
    return found if isinstance(found, Task) else None


def _first_start(desc: ActivityExecutionDescription) -> datetime | None:
    info = desc.raw_info
    if not info.HasField("heartbeat_details") or len(info.heartbeat_details.payloads) < 2:
        return None
    return datetime.fromisoformat(FirstStart.model_validate_json(info.heartbeat_details.payloads[1].data).at)


def _latest_failure(desc: ActivityExecutionDescription) -> FailureProto | None:
    """The failure that ended the job, or else its latest attempt's (a job being retried)."""
    if desc.raw_outcome is not None and desc.raw_outcome.HasField("failure"):
        return desc.raw_outcome.failure
    info = desc.raw_info
    return info.last_failure if info.HasField("last_failure") and info.last_failure.message else None


def _error(failure: FailureProto) -> TaskError:
    """A failure as Django's `TaskError`: the exception's class path (the failure's type) and its traceback."""
    details = failure.application_failure_info.details.payloads
    traceback = json.loads(details[0].data).get("traceback") if details else None
    path = failure.application_failure_info.type or "builtins.Exception"
    if failure.HasField("timeout_failure_info"):
        path = "builtins.TimeoutError"
    return TaskError(exception_class_path=path, traceback=traceback or failure.message)
