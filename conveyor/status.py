"""A job's status, read from Temporal, whatever the job's shape: a workflow (its description, pending activities,
`status` query and close event) or a standalone activity (its description).

Temporal knows more states than a job queue shows; `contracts.states.JobState` folds both shapes into the ones Bull
Board users know: an open job is `scheduled` (start delayed), `queued` (waiting for a worker), `running`, or
`retrying` (an attempt failed and the next one is waiting).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.failure.v1 import Failure as FailureProto
from temporalio.client import (
    ActivityExecutionDescription,
    ActivityExecutionStatus,
    ActivityHandle,
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
)
from temporalio.client import PendingActivityState as ActivityRunState
from temporalio.service import RPCError

from contracts.flow import AHEAD_QUERY, GATE_MEMO, WAITING_MEMO
from contracts.kinds import JobKind, Shape, kind_of
from contracts.progress import STATUS_QUERY, Progress
from contracts.states import JobState

WORKFLOW_STATE = {
    WorkflowExecutionStatus.COMPLETED: JobState.COMPLETED,
    WorkflowExecutionStatus.FAILED: JobState.FAILED,
    WorkflowExecutionStatus.CANCELED: JobState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: JobState.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: JobState.TIMED_OUT,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: JobState.RUNNING,
}
"""The job state of a closed workflow."""
ACTIVITY_STATE = {
    ActivityExecutionStatus.COMPLETED: JobState.COMPLETED,
    ActivityExecutionStatus.FAILED: JobState.FAILED,
    ActivityExecutionStatus.CANCELED: JobState.CANCELLED,
    ActivityExecutionStatus.TERMINATED: JobState.TERMINATED,
    ActivityExecutionStatus.TIMED_OUT: JobState.TIMED_OUT,
}
"""The job state of a closed standalone activity."""


class Failure(BaseModel):
    """Why a job (or its latest attempt) failed: the error's type and message."""

    type: str
    message: str


class JobStatus(BaseModel):
    """Everything `conveyor status` shows about one job."""

    id: str
    kind: str
    shape: Shape
    workflow: str
    """The Temporal type that runs the job: a workflow type, or an activity type for the activity shape."""
    state: JobState
    attempts: int = 0
    """Attempts of the job's current (or last) step; more than 1 means it was retried."""
    failure: Failure | None = None
    stage: str | None = None
    """What the job is doing (`rendering`, `sending`, `waiting for user.activated`), or `done`."""
    progress: int | None = None
    """How far the job is, 0-100 (None while it cannot tell)."""
    detail: str | None = None
    """What it counts or waits for, e.g. `40,000/100,000 rows`, `421/1,000 recipients (1 failed)`."""
    reported: Progress | None = None
    """What the job last reported, as it reported it (its workflow's `status` query, with the counts of the step
    it runs; or an activity-shaped job's heartbeat): `stage`, `progress` and `detail` are read from it."""
    result: Any = None
    """The result as JSON: an object for built-in kinds, any JSON value for a `@job` function's (`-> int`)."""
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


def ui_link(ui_url: str, namespace: str, job_id: str, shape: Shape = Shape.WORKFLOW, run_id: str | None = None) -> str:
    """The job's page in the Temporal web UI. An activity-shaped job's page (on the Standalone Activities page)
    needs its run id; without one, the link lists the runs of that job id."""
    base = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace)}"
    if shape is Shape.WORKFLOW:
        return f"{base}/workflows/{quote(job_id, safe='')}"
    if run_id:
        return f"{base}/activities/{quote(job_id, safe='')}/{quote(run_id, safe='')}/details"
    return f"{base}/activities?query={quote(f'ActivityId = {chr(34)}{job_id}{chr(34)}', safe='')}"


def kind_name(kind: JobKind | None) -> str:
    """The kind's name, or `other` for an execution that is no Conveyor job."""
    return kind.name if kind else "other"


def progress_of(payloads: Any) -> Progress | None:
    """The `Progress` an activity last heartbeated: always its first detail (`activities.liveness.beat`). None
    when it heartbeated nothing, or a first detail that is no progress (a heartbeat from before the one progress
    model: a broadcast batch's recipients then, shown without detail rather than failing the status)."""
    if not payloads:
        return None
    try:
        return Progress.model_validate_json(payloads[0].data)
    except ValueError:
        return None


def answered(value: Any) -> Progress | None:
    """The `Progress` a workflow answered to the `status` query. An answer from a worker before the one progress
    model reads as far as its fields match: stage, percent and detail (a broadcast's counts were in its detail)."""
    try:
        return Progress.model_validate(value)
    except ValueError:
        return None


def show(status: JobStatus, progress: Progress | None) -> None:
    """Put what the job reported into `status`."""
    if progress is None:
        return
    status.reported = progress
    status.stage = progress.stage or status.stage
    status.progress = progress.percent_done()
    status.detail = progress.describe()


async def workflow_status(handle: WorkflowHandle[Any, Any], ui_url: str, namespace: str, client: Client) -> JobStatus:
    """A workflow-shaped job's status. Costs one describe, plus a query (open: of the job, or of its key's gate
    while it waits for a slot) or one close-event read (closed)."""
    desc = await handle.describe()
    kind = kind_of(desc.workflow_type)
    status = JobStatus(
        id=desc.id,
        kind=kind_name(kind),
        shape=Shape.WORKFLOW,
        workflow=desc.workflow_type,
        state=open_workflow_state(desc) if desc.status in (None, WorkflowExecutionStatus.RUNNING) else JobState.QUEUED,
        created_at=desc.start_time,
        starts_at=desc.execution_time,
        closed_at=desc.close_time,
        run_id=desc.run_id,
        ui_url=ui_link(ui_url, namespace, desc.id),
    )
    if desc.status in (None, WorkflowExecutionStatus.RUNNING):
        await _open_workflow(handle, desc, status, client)
    else:
        status.state = WORKFLOW_STATE[desc.status]
        await _closed_workflow(handle, status)
    return status


ALERT_ACTIVITY = "send_alert"
"""The activity that announces a job's failure: a step of its workflow, but not one of the job's attempts."""


def _job_steps(desc: WorkflowExecutionDescription) -> list[Any]:
    """The workflow's pending activities that are the job's own steps: a failing alert is not the job retrying."""
    return [a for a in desc.raw_description.pending_activities if a.activity_type.name != ALERT_ACTIVITY]


def waiting_for(desc: WorkflowExecutionDescription) -> str | None:
    """The key a job limited per key waits for a slot of (its memo says so while it waits), else None."""
    memo = desc.raw_description.workflow_execution_info.memo.fields
    return json.loads(memo[WAITING_MEMO].data) if WAITING_MEMO in memo else None


def open_workflow_state(desc: WorkflowExecutionDescription) -> JobState:
    """The state of an open workflow, from its description alone (what `list` and `stats` use too)."""
    if desc.execution_time and desc.execution_time > datetime.now(UTC):
        return JobState.SCHEDULED
    if waiting_for(desc) is not None:
        return JobState.QUEUED
    state = JobState.QUEUED
    for activity in _job_steps(desc):
        if activity.HasField("last_failure") and activity.last_failure.message:
            return JobState.RETRYING
        if activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            state = JobState.RUNNING
    if state is JobState.QUEUED and desc.history_length > 3:
        state = JobState.RUNNING  # a worker has taken the job: it waits on a timer, child, signal or next step
    return state


async def _open_workflow(
    handle: WorkflowHandle[Any, Any], desc: WorkflowExecutionDescription, status: JobStatus, client: Client
) -> None:
    if status.state is JobState.SCHEDULED:
        return
    key = waiting_for(desc)
    if key is not None:
        status.stage, status.detail = f"waiting for {key}", await _ahead(client, desc)
        return
    step: Progress | None = None
    if len(_job_steps(desc)) < len(desc.raw_description.pending_activities):  # the job failed; its alert is due
        status.attempts = await _step_attempts(handle)
    for activity in _job_steps(desc):
        status.attempts = max(status.attempts, activity.attempt)
        if activity.HasField("last_failure") and activity.last_failure.message:
            status.failure = failure_of(activity.last_failure)
        heartbeat = progress_of(activity.heartbeat_details.payloads)
        step = heartbeat if heartbeat is not None and heartbeat.unit is not None else step
    try:
        job = answered(await handle.query(STATUS_QUERY, rpc_timeout=timedelta(seconds=2)))
    except (RPCError, TimeoutError, WorkflowQueryFailedError):
        job = None  # no worker has picked the job up yet, so nobody can answer the query
    show(status, job.with_step(step) if job is not None else step)


async def _ahead(client: Client, desc: WorkflowExecutionDescription) -> str | None:
    """`3 ahead`: how many jobs wait before this one at its key's gate (one query of the gate); None if unknown."""
    gate = await desc.memo_value(GATE_MEMO, None)
    if not isinstance(gate, str):
        return None
    try:
        ahead = await client.get_workflow_handle(gate).query(AHEAD_QUERY, desc.id, rpc_timeout=timedelta(seconds=2))
    except (RPCError, WorkflowQueryFailedError):
        return None
    return f"{ahead} ahead" if isinstance(ahead, int) else None


class _StepAttempts:
    """The attempt number of the job's last step started, read from its history events (its alert's left out)."""

    def __init__(self) -> None:
        self.attempts = 0
        self._types: dict[int, str] = {}  # scheduled event id -> activity type

    def read(self, event: Any) -> None:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            self._types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if self._types.get(started.scheduled_event_id) != ALERT_ACTIVITY:  # the job's steps, not its alert
                self.attempts = started.attempt


async def _step_attempts(handle: WorkflowHandle[Any, Any]) -> int:
    steps = _StepAttempts()
    async for event in handle.fetch_history_events():
        steps.read(event)
    return steps.attempts


async def _closed_workflow(handle: WorkflowHandle[Any, Any], status: JobStatus) -> None:
    steps = _StepAttempts()
    async for event in handle.fetch_history_events():
        steps.read(event)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
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
    status.attempts = steps.attempts
    if status.state is JobState.COMPLETED:
        status.stage, status.progress = "done", 100


async def workflow_failure(handle: WorkflowHandle[Any, Any]) -> Failure | None:
    """The failure a closed workflow ended with (one small read: its close event)."""
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            return failure_of(event.workflow_execution_failed_event_attributes.failure)
    return None


def activity_state(desc: ActivityExecutionDescription) -> JobState:
    """The state of a standalone activity job, from its description."""
    if desc.status in ACTIVITY_STATE:
        return ACTIVITY_STATE[desc.status]
    if desc.execution_time and desc.execution_time > datetime.now(UTC) and desc.attempt <= 1:
        return JobState.SCHEDULED
    if desc.run_state in (ActivityRunState.STARTED, ActivityRunState.CANCEL_REQUESTED):
        return JobState.RUNNING  # until its worker hears of the cancellation (at its next heartbeat)
    info = desc.raw_info
    if desc.attempt > 1 or (info.HasField("last_failure") and info.last_failure.message):
        return JobState.RETRYING
    return JobState.QUEUED


async def activity_status(handle: ActivityHandle[Any], ui_url: str, namespace: str) -> JobStatus:
    """An activity-shaped job's status: one describe (with its heartbeat, last failure and result)."""
    desc = await handle.describe(include_outcome=True, include_heartbeat_details=True, include_last_failure=True)
    kind = kind_of(desc.activity_type)
    info = desc.raw_info
    state = activity_state(desc)
    status = JobStatus(
        id=desc.activity_id,
        kind=kind_name(kind),
        shape=Shape.ACTIVITY,
        workflow=desc.activity_type,
        state=state,
        attempts=desc.attempt,
        created_at=desc.schedule_time or datetime.now(UTC),
        starts_at=desc.execution_time,
        closed_at=desc.close_time,
        run_id=desc.activity_run_id,
        ui_url=ui_link(ui_url, namespace, desc.activity_id, Shape.ACTIVITY, desc.activity_run_id),
    )
    if info.HasField("last_failure") and info.last_failure.message:
        status.failure = failure_of(info.last_failure)
    if state is JobState.COMPLETED:
        outcome = desc.raw_outcome
        if outcome is not None and outcome.HasField("result") and outcome.result.payloads:
            status.result = json.loads(outcome.result.payloads[0].data)
        status.stage, status.progress, status.failure = "done", 100, None
    elif state is JobState.FAILED and desc.raw_outcome is not None and desc.raw_outcome.HasField("failure"):
        status.failure = failure_of(desc.raw_outcome.failure)
    elif state is JobState.TIMED_OUT and status.failure is None:
        status.failure = Failure(type="ActivityTimeout", message="the job's last attempt timed out")
    elif state.open:
        if state in (JobState.RUNNING, JobState.RETRYING) and kind is not None:
            status.stage = kind.stage
        heartbeat = progress_of(info.heartbeat_details.payloads) if info.HasField("heartbeat_details") else None
        show(status, heartbeat)
    return status
