"""A job's status, read from Temporal: its description, its pending activity, its `status` query and history.

Temporal knows more states than a job queue shows; `JobState` folds them into the ones Bull Board users know:
a running workflow is `scheduled-for-later` (start delayed), `queued` (waiting for a worker), `running`, or `retrying`
(its activity failed at least once and waits for the next attempt).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.failure.v1 import Failure as FailureProto
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from activities.progress import Progress
from conveyor.kinds import kind_of


class JobState(StrEnum):
    """Where a job is in its life."""

    SCHEDULED = "scheduled-for-later"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed-out"

    @property
    def done(self) -> bool:
        """True once the job has ended, successfully or not."""
        return self in _DONE


_DONE = {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TERMINATED, JobState.TIMED_OUT}

CLOSED_STATE = {
    WorkflowExecutionStatus.COMPLETED: JobState.COMPLETED,
    WorkflowExecutionStatus.FAILED: JobState.FAILED,
    WorkflowExecutionStatus.CANCELED: JobState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: JobState.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: JobState.TIMED_OUT,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: JobState.RUNNING,
}


class Failure(BaseModel):
    """Why a job (or its latest attempt) failed: the error's type and message."""

    type: str
    message: str


class JobStatus(BaseModel):
    """Everything `conveyor status` shows about one job."""

    id: str
    kind: str
    workflow: str
    state: JobState
    attempts: int = 0
    """Attempts of the job's current (or last) activity; more than 1 means it was retried."""
    failure: Failure | None = None
    stage: str | None = None
    progress: int | None = None
    detail: str | None = None
    """What a long activity last reported, e.g. `40,000/100,000 rows`."""
    result: dict[str, Any] | None = None
    created_at: datetime
    starts_at: datetime | None = None
    closed_at: datetime | None = None
    run_id: str | None = None
    ui_url: str


def failure_of(proto: FailureProto) -> Failure:
    """The most telling failure in a chain: the first with an application type, else the top one."""
    node: FailureProto | None = proto
    while node is not None and node.message:
        if node.HasField("application_failure_info") and node.application_failure_info.type:
            return Failure(type=node.application_failure_info.type, message=node.message)
        node = node.cause if node.HasField("cause") else None
    return Failure(type="Failure", message=proto.message)


def ui_link(ui_url: str, namespace: str, job_id: str) -> str:
    """The job's page in the Temporal web UI."""
    return f"{ui_url.rstrip('/')}/namespaces/{quote(namespace)}/workflows/{quote(job_id, safe='')}"


OTHER_KIND = "other"
"""The kind `status` shows for a workflow that is not a Conveyor job."""


async def read_status(handle: WorkflowHandle[Any, Any], ui_url: str, namespace: str) -> JobStatus:
    """The job's status. Costs one describe, plus a query (running) or one history read (closed)."""
    desc = await handle.describe()
    kind = kind_of(desc.workflow_type)
    status = JobStatus(
        id=desc.id,
        kind=kind.name if kind else OTHER_KIND,
        workflow=desc.workflow_type,
        state=JobState.QUEUED,
        created_at=desc.start_time,
        starts_at=desc.execution_time,
        closed_at=desc.close_time,
        run_id=desc.run_id,
        ui_url=ui_link(ui_url, namespace, desc.id),
    )
    if desc.status is None or desc.status is WorkflowExecutionStatus.RUNNING:
        await _running(handle, desc, status)
    else:
        status.state = CLOSED_STATE[desc.status]
        await _closed(handle, status)
    return status


async def _running(handle: WorkflowHandle[Any, Any], desc: WorkflowExecutionDescription, status: JobStatus) -> None:
    if desc.execution_time and desc.execution_time > datetime.now(UTC):
        status.state = JobState.SCHEDULED
        return
    heartbeat: Progress | None = None
    for activity in desc.raw_description.pending_activities:
        status.attempts = max(status.attempts, activity.attempt)
        if activity.HasField("last_failure") and activity.last_failure.message:
            status.state = JobState.RETRYING
            status.failure = failure_of(activity.last_failure)
        elif activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            status.state = JobState.RUNNING
        heartbeat = _heartbeat_progress(activity.heartbeat_details.payloads)
    if status.state is JobState.QUEUED and desc.history_length > 3:
        status.state = JobState.RUNNING  # a worker has taken the job: it waits on a timer, child or signal
    try:
        progress = await handle.query("status", rpc_timeout=timedelta(seconds=2))
        status.stage, status.progress = progress.get("stage"), progress.get("percent")
        status.detail = progress.get("detail")  # e.g. a broadcast's `420 sent, 1 failed, 579 remaining`
    except (RPCError, TimeoutError, WorkflowQueryFailedError):
        pass  # no worker has picked the job up yet, so nobody can answer the query
    if heartbeat is not None:  # the activity knows better than the workflow how far it is
        status.detail = heartbeat.describe()
        status.progress = heartbeat.percent if heartbeat.percent is not None else status.progress


def _heartbeat_progress(payloads: Any) -> Progress | None:
    """The `Progress` a pending activity last heartbeated, if that is what its details are."""
    if not payloads:
        return None
    try:
        return Progress.model_validate_json(payloads[0].data)
    except ValueError:
        return None  # an activity that heartbeats something else


NOT_THE_JOBS_ATTEMPTS = frozenset({"send_alert"})
"""Activities whose attempts are not the job's: a failed job's alert may take 3 tries, the job took 1."""


async def _closed(handle: WorkflowHandle[Any, Any], status: JobStatus) -> None:
    activity_types: dict[int, str] = {}  # scheduled event id -> activity type
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activity_types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if activity_types.get(started.scheduled_event_id) not in NOT_THE_JOBS_ATTEMPTS:
                status.attempts = started.attempt
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            status.failure = failure_of(event.workflow_execution_failed_event_attributes.failure)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            if payloads:
                status.result = json.loads(payloads[0].data)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
            status.failure = Failure(type="JobTimeout", message="the job ran past its execution timeout")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            reason = event.workflow_execution_terminated_event_attributes.reason
            status.failure = Failure(type="Terminated", message=reason or "terminated by an operator")
    if status.state is JobState.COMPLETED:
        status.stage, status.progress = "done", 100
