"""Operating jobs after they were enqueued: retry, cancel, the dead-letter view, listing and stats.

Everything here reads Temporal's visibility store or acts on one workflow; `Jobs` exposes it to Python, the CLI
and the HTTP API alike. Retry is a **reset** to the job's first workflow task — what the web UI's Reset button
does: the same job id gets a new run with the same input, and the UI links the runs, so the lineage stays visible.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
)
from temporalio.client import (
    WorkflowExecution as Execution,
)

from conveyor.errors import InvalidJobError, JobStateError
from conveyor.kinds import KINDS, kind_of
from conveyor.status import CLOSED_STATE, Failure, JobState, failure_of

T = TypeVar("T")
R = TypeVar("R")

RETRYABLE = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}
_VISIBILITY_STATUS = {
    JobState.RUNNING: "Running",
    JobState.COMPLETED: "Completed",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Canceled",
    JobState.TERMINATED: "Terminated",
    JobState.TIMED_OUT: "TimedOut",
}
_STATE_OF_STATUS = {v: k for k, v in _VISIBILITY_STATUS.items()}
_RESET_POINTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


class JobSummary(BaseModel):
    """One row of a job listing: cheap to get for many jobs at once."""

    id: str
    run_id: str
    kind: str
    state: JobState
    created_at: datetime
    closed_at: datetime | None = None
    failure: Failure | None = None
    """Filled in by the dead-letter view (`failed`), which reads each job's close event."""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


RECIPIENT_UNSEARCHABLE = '"'
"""`Recipients` is a keyword list, which the SQLite store searches with FTS5 without escaping FTS5's phrase quote:
a `"` in the value is "SQL logic error: unterminated string" once the table has rows. No address Conveyor accepts
(and no phone number) has one."""


def searchable(field: str, value: str, unsearchable: str = "") -> str:
    """`value`, if Temporal's visibility store can be asked for it; `InvalidJobError` naming `field` otherwise.

    Single quotes and backslashes are fine (`_quote` escapes them). What no escaping saves is a character the store
    never sees whole: a NUL ends SQLite's statement mid-string ("SQL logic error: unrecognized token", which the
    dev server reports as UNAVAILABLE, so the SDK retries it for seconds), and a lone surrogate cannot be encoded
    for gRPC at all. Refused by class rather than by example: every character `str.isprintable` rejects (controls,
    format characters, surrogates, private-use and unassigned code points, separators other than the space), plus
    the `unsearchable` characters of the attribute searched. No job id, key, address or phone number holds one.
    """
    if not value:
        raise InvalidJobError(f"{field} must not be empty")
    if not value.isprintable():
        raise InvalidJobError(f"{field} must be printable text: control, format and surrogate characters are refused")
    if any(c in unsearchable for c in value):
        raise InvalidJobError(f"{field} must not contain {' or '.join(unsearchable)}")
    return value


def visibility_query(
    kind: str | None = None,
    state: JobState | None = None,
    key: str | None = None,
    recipient: str | None = None,
    since: datetime | None = None,
) -> str:
    """The visibility query for jobs matching every filter given (all Conveyor jobs when none)."""
    if kind is not None and kind not in KINDS:
        raise InvalidJobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    if state is not None and state not in _VISIBILITY_STATUS:
        raise InvalidJobError(f"state must be one of {', '.join(s.value for s in _VISIBILITY_STATUS)}")
    kinds = [KINDS[kind]] if kind else list(KINDS.values())
    clauses = ["WorkflowType IN (" + ", ".join(_quote(k.workflow) for k in kinds) + ")"]
    if state is not None:
        clauses.append(f"ExecutionStatus = {_quote(_VISIBILITY_STATUS[state])}")
    if key is not None:
        clauses.append(f"JobKey = {_quote(searchable('key', key))}")
    if recipient is not None:
        clauses.append(f"Recipients = {_quote(searchable('recipient', recipient, RECIPIENT_UNSEARCHABLE))}")
    if since is not None:
        clauses.append(f"StartTime >= {_quote(since.isoformat())}")
    return " AND ".join(clauses)


def summary(execution: Execution) -> JobSummary:
    """A listing row from a visibility entry."""
    kind = kind_of(execution.workflow_type)
    status = execution.status or WorkflowExecutionStatus.RUNNING
    return JobSummary(
        id=execution.id,
        run_id=execution.run_id,
        kind=kind.name if kind else "other",
        state=CLOSED_STATE.get(status, JobState.RUNNING),
        created_at=execution.start_time,
        closed_at=execution.close_time,
    )


async def list_jobs(client: Client, query: str, limit: int, latest_only: bool = False) -> list[JobSummary]:
    """Up to `limit` jobs matching `query`, newest first, one row per job.

    Visibility lists every *run*: a retried job's earlier failed run still matches `ExecutionStatus='Failed'`.
    With `latest_only`, rows that are not their job's latest run are dropped (one describe per row), so a state
    filter shows what jobs are in now.
    """
    rows: dict[str, JobSummary] = {}
    async for execution in client.list_workflows(query, limit=limit):
        rows.setdefault(execution.id, summary(execution))
    if not latest_only:
        return list(rows.values())

    async def current(row: JobSummary) -> JobSummary | None:
        latest = await client.get_workflow_handle(row.id).describe()
        return row if latest.run_id == row.run_id else None

    return [row for row in await bounded(rows.values(), current, concurrency=10) if row is not None]


async def bounded(items: Iterable[T], work: Callable[[T], Awaitable[R]], concurrency: int) -> list[R]:
    """`work` over `items`, at most `concurrency` at a time, results in input order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def with_failure(client: Client, job: JobSummary) -> JobSummary:
    """`job` with its failure read from its close event (one small history read)."""
    handle = client.get_workflow_handle(job.id, run_id=job.run_id)
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            job.failure = failure_of(event.workflow_execution_failed_event_attributes.failure)
    return job


async def failed_jobs(client: Client, kind: str | None, since: datetime | None, limit: int) -> list[JobSummary]:
    """The dead-letter view: jobs that failed for good, newest first, each with its failure."""
    jobs = await list_jobs(client, visibility_query(kind, JobState.FAILED, since=since), limit, latest_only=True)
    return await bounded(jobs, lambda job: with_failure(client, job), concurrency=10)


async def retry(client: Client, namespace: str, job_id: str) -> str:
    """Run a failed, terminated or timed-out job again from its start, with the same input; the new run's id."""
    handle = client.get_workflow_handle(job_id)
    desc = await handle.describe()
    if desc.status not in RETRYABLE:
        state = CLOSED_STATE.get(desc.status, JobState.RUNNING) if desc.status else JobState.RUNNING
        raise JobStateError(f"job {job_id} is {state.value}: only failed, terminated or timed-out jobs are retried")
    reset_point = None
    async for event in handle.fetch_history_events():
        if event.event_type in _RESET_POINTS:
            reset_point = event.event_id
            break
    if reset_point is None:
        raise JobStateError(f"job {job_id} never reached a worker: nothing to reset to")
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=namespace,
            workflow_execution=WorkflowExecution(workflow_id=job_id, run_id=desc.run_id),
            reason="retried with conveyor",
            workflow_task_finish_event_id=reset_point,
            request_id=str(uuid.uuid4()),
        )
    )
    return response.run_id


async def cancel(client: Client, job_id: str) -> None:
    """Request cancellation: the job's activity is told at its next heartbeat, and the job ends `cancelled`."""
    handle = client.get_workflow_handle(job_id)
    desc = await handle.describe()
    if desc.status not in (None, WorkflowExecutionStatus.RUNNING):
        raise JobStateError(f"job {job_id} already ended ({CLOSED_STATE[desc.status].value}): nothing to cancel")
    await handle.cancel()


async def stats(client: Client) -> dict[str, dict[str, int]]:
    """Job counts per kind and state (one visibility count per kind, grouped by status)."""
    result: dict[str, dict[str, int]] = {}
    for kind in KINDS.values():
        counted = await client.count_workflows(f"WorkflowType = {_quote(kind.workflow)} GROUP BY ExecutionStatus")
        result[kind.name] = {
            _STATE_OF_STATUS[str(group.group_values[0])].value: group.count
            for group in counted.groups
            if str(group.group_values[0]) in _STATE_OF_STATUS
        }
    return result
