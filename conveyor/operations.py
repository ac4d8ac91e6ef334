"""Operating jobs after they were enqueued: listing, the dead-letter view, stats, retry and cancel — for both
shapes of a job (a workflow, or a standalone activity), shown as one thing.

Visibility lists *runs*: a retried job has its earlier failed run besides its new one. Every listing and count
here shows a job once, by its latest run (`latest_only`), so `list`, `failed` and `stats` agree.

Retry of a workflow-shaped job is a **reset** to its first workflow task — what the web UI's Reset button does: the
same job id gets a new run with the same input, and the UI links the runs. Retry of an activity-shaped job starts
it again under the same id with the same input and its policy (a closed activity can only be started again, not
reset), and no search attribute, as `Jobs` starts one: so it can be re-run in the web UI in one click later.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import (
    ActivityExecution,
    ActivityExecutionDescription,
    ActivityExecutionStatus,
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
)
from temporalio.client import WorkflowExecution as Execution
from temporalio.common import (
    ActivityIDConflictPolicy,
    ActivityIDReusePolicy,
    Priority,
    RawValue,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.kinds import KINDS, JobKind, Shape, kind_of
from contracts.states import EXECUTION_STATUS, OPEN, JobState
from conveyor.connection import WITHOUT_STANDALONE_ACTIVITIES
from conveyor.errors import InvalidJobError, JobStateError
from conveyor.status import (
    ACTIVITY_STATE,
    WORKFLOW_STATE,
    Failure,
    activity_state,
    failure_of,
    kind_name,
    open_workflow_state,
    waiting_for,
    workflow_failure,
)
from conveyor.tenants import tenant_of
from workflows.policies import policy_of

T = TypeVar("T")
R = TypeVar("R")

RETRYABLE = (JobState.FAILED, JobState.TERMINATED, JobState.TIMED_OUT)
"""The states a retry starts again from: a later run may supersede a run in one of these."""
_RESET_POINTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
DESCRIBE_CONCURRENCY = 20


class JobSummary(BaseModel):
    """One row of a job listing: cheap to get for many jobs at once."""

    id: str
    run_id: str
    kind: str
    shape: Shape = Shape.WORKFLOW
    state: JobState
    task_queue: str | None = None
    created_at: datetime
    closed_at: datetime | None = None
    failure: Failure | None = None
    """Filled in for failed jobs by the dead-letter view (`failed`) and by `list`."""
    waiting_for: str | None = None
    """The key a queued job limited per key waits for a slot of (see flow control), once its state is told apart."""


class JobStats(BaseModel):
    """Counts of jobs (not runs) per kind, task queue and state: open jobs now, closed ones since `since`."""

    since: datetime = Field(description="Closed jobs are counted if they closed after this.")
    counts: dict[str, dict[str, dict[JobState, int]]] = Field(
        description="kind -> task queue -> state -> jobs. Every state is present."
    )
    open_beyond_limit: dict[str, int] = Field(
        default_factory=dict,
        description="kind -> open jobs due to run past CONVEYOR_STATS_OPEN_LIMIT (per queue), counted but not told "
        "apart as queued, running or retrying (nor in counts).",
    )

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Counts per kind and state, summed over task queues. States are plain strings (`"queued"`), so the
        counts print as they read; a `JobState` indexes them as well (it is a `str`)."""
        totals: dict[str, dict[str, int]] = {}
        for kind, queues in self.counts.items():
            row = totals.setdefault(kind, {state.value: 0 for state in JobState})
            for states in queues.values():
                for state, count in states.items():
                    row[state] += count
        return totals


def quote(value: str) -> str:
    """`value` as a visibility-query string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


RECIPIENT_UNSEARCHABLE = '"'
"""`Recipients` is a keyword list, which the SQLite store searches with FTS5 without escaping FTS5's phrase quote:
a `"` in the value is "SQL logic error: unterminated string" once the table has rows. No address Conveyor accepts
(and no phone number) has one."""


def searchable(field: str, value: str, unsearchable: str = "") -> str:
    """`value`, if Temporal's visibility store can be asked for it; `InvalidJobError` naming `field` otherwise.

    Single quotes and backslashes are fine (`quote` escapes them). What no escaping saves is a character the store
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


def known_kind(kind: str) -> JobKind:
    """The kind named `kind`, or `InvalidJobError` listing the known ones."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidJobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    return spec


def shown_kinds(include_internal: bool) -> list[JobKind]:
    """The kinds a listing or count covers when no kind is named: the jobs a team enqueued or scheduled, plus
    Conveyor's own housekeeping (`JobKind.internal`) only when asked for."""
    return [k for k in KINDS.values() if include_internal or not k.internal]


def type_clause(shape: Shape, kinds: Iterable[JobKind]) -> str | None:
    """`WorkflowType IN (...)` / `ActivityType IN (...)` for the types of `kinds` that run as `shape`; None when
    none does."""
    field = "ActivityType" if shape is Shape.ACTIVITY else "WorkflowType"
    types = [t for k in kinds for t in k.types_of(shape)]
    return f"{field} IN ({', '.join(quote(t) for t in types)})" if types else None


def visibility_queries(
    kind: str | None = None,
    state: JobState | None = None,
    key: str | None = None,
    recipient: str | None = None,
    since: datetime | None = None,
    include_internal: bool = False,
    tenant: str | None = None,
) -> dict[Shape, str]:
    """The visibility query of each shape for jobs matching every filter given (all Conveyor jobs when none, but
    housekeeping ones only with `include_internal` or when `kind` names one). Open states other than `scheduled`
    cannot be told apart by visibility: they select `Running`, and the rows are told apart afterwards
    (`list_jobs`).

    A key is an exact match either way: a workflow-shaped job's `JobKey` attribute, an activity-shaped job's id
    (`<kind>-<key>`, which carries no search attribute: see `recipient_runs`). A recipient is a workflow-shaped
    job's `Recipients` attribute; the activity shape's query leaves it out, for `list_jobs` to match in the jobs'
    input. A tenant likewise: a workflow-shaped job's `Tenant` attribute; an activity-shaped job's priority, matched
    by `list_jobs`."""
    kinds = [known_kind(kind)] if kind else shown_kinds(include_internal)
    clauses: list[str] = []
    if state in EXECUTION_STATUS:
        clauses.append(f"ExecutionStatus = {quote(EXECUTION_STATUS[state])}")
    elif state is not None:
        clauses.append("ExecutionStatus = 'Running'")
        if state is JobState.SCHEDULED:
            clauses.append(f"ExecutionTime > {quote(_now())}")
    if since is not None:
        clauses.append(f"StartTime >= {quote(since.astimezone(UTC).isoformat())}")
    if key is not None:
        searchable("key", key)
    if recipient is not None:
        searchable("recipient", recipient, RECIPIENT_UNSEARCHABLE)
    tenant_of(tenant)
    queries: dict[Shape, str] = {}
    for shape in Shape:
        types = type_clause(shape, kinds)
        if types is None:
            continue
        own = list(clauses)
        if key is not None and shape is Shape.ACTIVITY:
            ids = [job_id_of(k, key) for k in kinds if k.shape is Shape.ACTIVITY]
            own.append(f"ActivityId IN ({', '.join(quote(i) for i in ids)})")
        elif key is not None:
            own.append(f"JobKey = {quote(key)}")
        if recipient is not None and shape is Shape.WORKFLOW:
            own.append(f"Recipients = {quote(recipient)}")
        if tenant is not None and shape is Shape.WORKFLOW:
            own.append(f"Tenant = {quote(tenant)}")
        queries[shape] = " AND ".join([types, *own])
    return queries


def job_id_of(kind: JobKind, key: str) -> str:
    """The id a job of `kind` enqueued with `key` has."""
    return f"{kind.name}-{key}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def workflow_row(execution: Execution) -> JobSummary:
    """A listing row from a workflow's visibility entry."""
    status = execution.status or WorkflowExecutionStatus.RUNNING
    return JobSummary(
        id=execution.id,
        run_id=execution.run_id,
        kind=kind_name(kind_of(execution.workflow_type)),
        state=WORKFLOW_STATE.get(status, JobState.RUNNING),
        task_queue=execution.task_queue,
        created_at=execution.start_time,
        closed_at=execution.close_time,
    )


def activity_row(execution: ActivityExecution) -> JobSummary:
    """A listing row from a standalone activity's visibility entry."""
    status = execution.status or ActivityExecutionStatus.RUNNING
    return JobSummary(
        id=execution.activity_id,
        run_id=execution.activity_run_id or "",
        kind=kind_name(kind_of(execution.activity_type)),
        shape=Shape.ACTIVITY,
        state=ACTIVITY_STATE.get(status, JobState.RUNNING),
        task_queue=execution.task_queue,
        created_at=execution.schedule_time or datetime.now(UTC),
        closed_at=execution.close_time,
    )


async def runs(client: Client, shape: Shape, query: str, limit: int | None) -> AsyncIterator[JobSummary]:
    """The rows of every run matching `query` (newest first). A server without standalone activities has no
    activity rows: there, activity-shaped kinds run as workflows, and only those are listed and counted."""
    if shape is Shape.ACTIVITY:
        try:
            async for activity in client.list_activities(query, limit=limit):
                yield activity_row(activity)
        except RPCError as e:
            if e.status not in WITHOUT_STANDALONE_ACTIVITIES:
                raise
    else:
        async for execution in client.list_workflows(query, limit=limit):
            yield workflow_row(execution)


async def latest_runs(client: Client, shape: Shape, ids: list[str]) -> dict[str, str]:
    """The latest run id of each job in `ids` (one visibility list per 100 ids)."""
    field = "ActivityId" if shape is Shape.ACTIVITY else "WorkflowId"
    latest: dict[str, tuple[datetime, str]] = {}
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        async for row in runs(client, shape, f"{field} IN ({', '.join(quote(i) for i in chunk)})", None):
            seen = latest.get(row.id)
            if seen is None or row.created_at > seen[0]:
                latest[row.id] = (row.created_at, row.run_id)
    return {job: run for job, (_, run) in latest.items()}


async def only_latest(client: Client, shape: Shape, rows: list[JobSummary]) -> list[JobSummary]:
    """`rows` without runs that a retry superseded (only a failed, terminated or timed-out run can be)."""
    suspects = [r.id for r in rows if r.state in RETRYABLE]
    if not suspects:
        return rows
    latest = await latest_runs(client, shape, suspects)
    return [r for r in rows if r.state not in RETRYABLE or latest.get(r.id, r.run_id) == r.run_id]


async def with_open_state(client: Client, row: JobSummary) -> JobSummary:
    """`row` with its open state told apart (queued, scheduled, running, retrying): one describe."""
    if row.state.done:
        return row
    if row.shape is Shape.ACTIVITY:
        row.state = activity_state(await client.get_activity_handle(row.id, run_id=row.run_id).describe())
    else:
        desc = await client.get_workflow_handle(row.id, run_id=row.run_id).describe()
        row.state, row.waiting_for = open_workflow_state(desc), waiting_for(desc)
    return row


async def with_failure(client: Client, row: JobSummary) -> JobSummary:
    """`row` with the failure its job ended with (one small read), when it failed."""
    if row.state is not JobState.FAILED:
        return row
    if row.shape is Shape.ACTIVITY:
        desc = await client.get_activity_handle(row.id, run_id=row.run_id).describe(include_outcome=True)
        if desc.raw_outcome is not None and desc.raw_outcome.HasField("failure"):
            row.failure = failure_of(desc.raw_outcome.failure)
    else:
        row.failure = await workflow_failure(client.get_workflow_handle(row.id, run_id=row.run_id))
    return row


async def list_jobs(
    client: Client,
    queries: dict[Shape, str],
    limit: int,
    state: JobState | None = None,
    scan_limit: int = 1000,
    recipient: str | None = None,
    recipient_scan_limit: int = 1000,
    tenant: str | None = None,
) -> list[JobSummary]:
    """Up to `limit` jobs matching `queries`, newest first, one row per job (its latest run), each with its open
    state told apart and, when failed, its failure.

    With an open `state` (which visibility cannot tell apart: all are `Running`), open jobs are described newest
    first, a page at a time, until `limit` are in that state or `scan_limit` were looked at: the cost is one
    describe per job looked at, bounded whatever the backlog. With a `recipient` or a `tenant`, activity-shaped jobs
    are those of `recipient_runs` and `of_tenant` among the newest `recipient_scan_limit` (the activity query of
    `visibility_queries` leaves both out)."""
    found: list[JobSummary] = []
    for shape, query in queries.items():
        if (recipient is not None or tenant is not None) and shape is Shape.ACTIVITY:
            if recipient is not None:
                rows = await recipient_runs(client, query, recipient, recipient_scan_limit)
            else:
                rows = [r async for r in runs(client, shape, query, recipient_scan_limit)]
            rows = await of_tenant(client, rows, tenant)
            if state in OPEN and state is not JobState.SCHEDULED:
                rows = [r for r in await bounded(rows, lambda r: with_open_state(client, r)) if r.state is state]
            found += await only_latest(client, shape, rows)
            continue
        if state in OPEN and state is not JobState.SCHEDULED:
            found += await _scan_open(client, shape, query, state, limit, scan_limit)
            continue
        by_id: dict[str, JobSummary] = {}
        async for row in runs(client, shape, query, limit):
            by_id.setdefault(row.id, row)
        found += await only_latest(client, shape, list(by_id.values()))
    found.sort(key=lambda r: r.created_at, reverse=True)
    found = await bounded(found[:limit], lambda r: with_open_state(client, r))
    return await bounded([r for r in found if state is None or r.state is state], lambda r: with_failure(client, r))


async def recipient_runs(client: Client, query: str, recipient: str, scan_limit: int) -> list[JobSummary]:
    """The activity-shaped jobs of `query` that reach `recipient` (one row per job, its newest run).

    They carry no search attribute (the web UI's one-click re-run fails on any, and keeps none), so their
    recipients are read from their input, the one thing every run of a job has, whoever started it: the newest
    `scan_limit` runs of `query` are described (one describe each, 20 at a time) and matched exactly against
    their kind's `recipients`. Jobs started before that change carry a `Recipients` attribute and are found by it
    too, however old."""
    tagged = [r async for r in runs(client, Shape.ACTIVITY, f"{query} AND Recipients = {quote(recipient)}", None)]
    scanned = [r async for r in runs(client, Shape.ACTIVITY, query, scan_limit)]
    reached = await bounded(scanned, lambda r: _reaches(client, r, recipient))
    newest: dict[str, JobSummary] = {}
    matched = [*tagged, *(r for r, hit in zip(scanned, reached, strict=True) if hit)]
    for row in sorted(matched, key=lambda r: r.created_at):
        newest[row.id] = row
    return list(newest.values())


async def of_tenant(client: Client, rows: list[JobSummary], tenant: str | None) -> list[JobSummary]:
    """The activity-shaped `rows` whose job is `tenant`'s (all of them when `tenant` is None): read from each
    one's priority, its fairness key, by one describe each (20 at a time). They carry no `Tenant` attribute, for
    the same reason they carry no other (see `recipient_runs`)."""
    if tenant is None:
        return rows

    async def tenant_of_row(row: JobSummary) -> str | None:
        try:
            desc = await client.get_activity_handle(row.id, run_id=row.run_id).describe()
        except RPCError as e:
            if e.status is not RPCStatusCode.NOT_FOUND:
                raise
            return None  # gone since it was listed (a run superseded or deleted meanwhile): no one's now
        return desc.raw_info.priority.fairness_key

    tenants = await bounded(rows, tenant_of_row)
    return [r for r, t in zip(rows, tenants, strict=True) if t == tenant]


async def _reaches(client: Client, row: JobSummary, recipient: str) -> bool:
    """Whether the job of `row` (an activity-shaped job's run) reaches `recipient`, read from its input."""
    kind = KINDS.get(row.kind)
    desc = await client.get_activity_handle(row.id, run_id=row.run_id).describe(include_input=True)
    if kind is None or desc.raw_input is None or len(desc.raw_input.payloads) != 1:
        return False
    try:
        job = kind.request.model_validate_json(desc.raw_input.payloads[0].data)
    except ValueError:  # input no Conveyor producer sent (a foreign one's bad JSON): it reaches no one we know
        return False
    return recipient in kind.recipients(job)


async def _scan_open(
    client: Client, shape: Shape, query: str, state: JobState, limit: int, scan_limit: int
) -> list[JobSummary]:
    """The newest open jobs of `query` in `state`, looking at no more than `scan_limit` of them."""
    matching: list[JobSummary] = []
    page: list[JobSummary] = []
    looked = 0
    async for row in runs(client, shape, query, scan_limit):
        page.append(row)
        looked += 1
        if len(page) == 100 or looked == scan_limit:
            matching += [r for r in await bounded(page, lambda r: with_open_state(client, r)) if r.state is state]
            page = []
            if len(matching) >= limit:
                return matching[:limit]
    matching += [r for r in await bounded(page, lambda r: with_open_state(client, r)) if r.state is state]
    return matching[:limit]


async def bounded(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], concurrency: int = DESCRIBE_CONCURRENCY
) -> list[R]:
    """`work` over `items`, at most `concurrency` at a time, results in input order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def failed_jobs(
    client: Client,
    kind: str | None,
    since: datetime | None,
    limit: int,
    tenant: str | None = None,
    scan_limit: int = 1000,
) -> list[JobSummary]:
    """The dead-letter view: jobs whose latest run failed, newest first, each with its failure (of `tenant` only,
    when given: activity-shaped ones among the newest `scan_limit` failed)."""
    queries = visibility_queries(kind, JobState.FAILED, since=since, include_internal=True, tenant=tenant)
    return await list_jobs(client, queries, limit, recipient_scan_limit=scan_limit, tenant=tenant)


def described_state(desc: WorkflowExecutionDescription) -> JobState:
    """A workflow-shaped job's state from its description, named as `status` names it (an open one: scheduled,
    queued, running or retrying)."""
    if desc.status in (None, WorkflowExecutionStatus.RUNNING):
        return open_workflow_state(desc)
    return WORKFLOW_STATE.get(desc.status, JobState.RUNNING)


async def retry(client: Client, namespace: str, job_id: str, shape: Shape) -> str:
    """Run a failed, terminated or timed-out job again from its start, with the same input; the new run's id."""
    if shape is Shape.ACTIVITY:
        return await _retry_activity(client, job_id)
    handle = client.get_workflow_handle(job_id)
    desc = await handle.describe()
    state = described_state(desc)
    if state not in RETRYABLE:
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


async def _retry_activity(client: Client, job_id: str) -> str:
    desc = await client.get_activity_handle(job_id).describe(include_input=True)
    state = activity_state(desc)
    if state not in RETRYABLE:
        raise JobStateError(f"job {job_id} is {state.value}: only failed, terminated or timed-out jobs are retried")
    return await _start_again(client, job_id, desc)


async def _start_again(client: Client, job_id: str, desc: ActivityExecutionDescription) -> str:
    """Start the activity-shaped job `desc` describes (closed) again under its id, with its input, policy and
    priority: a new run, attempts counted from 1, no start delay."""
    kind = kind_of(desc.activity_type)
    if kind is None:
        raise JobStateError(f"{job_id} is not a Conveyor job")
    inputs: list[Any] = [RawValue(p) for p in (desc.raw_input.payloads if desc.raw_input else [])]
    handle = await client.start_activity(
        desc.activity_type,
        args=inputs,
        id=job_id,
        task_queue=desc.task_queue,
        **policy_of(kind).activity_options(),
        # Its priority as it was: its level, and its tenant (fairness key and weight) with it.
        priority=Priority(
            priority_key=desc.raw_info.priority.priority_key or None,
            fairness_key=desc.raw_info.priority.fairness_key or None,
            fairness_weight=desc.raw_info.priority.fairness_weight or None,
        ),
        # Only a job that ended without success may run again under its id: the one deliberate exception to
        # "a key never sends twice".
        id_reuse_policy=ActivityIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        id_conflict_policy=ActivityIDConflictPolicy.FAIL,
    )
    return handle.run_id or ""


RUN_NOW_SIGNAL = "run_now"
"""The signal that starts a delayed workflow-shaped job at once: a signal-with-start to a workflow waiting out its
start delay dispatches its first task immediately (the rest of the delay is dropped). No workflow handles it: it is
only recorded in the job's history."""
RUN_NOW_MARGIN = timedelta(seconds=5)
"""A job due sooner than this is left to start by itself: an activity-shaped job is run now by ending its delayed
run and starting it again, which must not catch a run that has just begun."""


async def run_now(client: Client, job_id: str, shape: Shape) -> None:
    """Start a delayed (`scheduled`) job at once, as the same job with the same input — Bull Board's promote.

    A workflow-shaped job: one signal-with-start, which makes its waiting run start now (the same run, durably: the
    server records it). An activity-shaped job cannot be told to skip its delay (the server's reset of a standalone
    activity is off by default), so its delayed run is terminated ("run now with conveyor") and the job started
    again under its id, as `retry` starts it; were this process to stop between the two, the job stays
    `terminated`, which `retry` starts again."""
    if shape is Shape.ACTIVITY:
        desc = await client.get_activity_handle(job_id).describe(include_input=True)
        _must_be_delayed(job_id, activity_state(desc), desc.execution_time)
        await client.get_activity_handle(job_id, run_id=desc.activity_run_id).terminate(reason=RUN_NOW_REASON)
        await _start_again(client, job_id, desc)
        return
    workflow = await client.get_workflow_handle(job_id).describe()
    _must_be_delayed(job_id, described_state(workflow), workflow.execution_time)
    try:
        await client.start_workflow(
            workflow.workflow_type,
            id=job_id,
            task_queue=workflow.task_queue,
            start_signal=RUN_NOW_SIGNAL,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # signal the waiting run, never a new one
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise JobStateError(f"job {job_id} already ended: nothing to run now") from None


RUN_NOW_REASON = "run now with conveyor: started again without its delay"


def _must_be_delayed(job_id: str, state: JobState, starts_at: datetime | None) -> None:
    if state is not JobState.SCHEDULED:
        raise JobStateError(f"job {job_id} is {state.value}: only a scheduled (delayed) job can be run now")
    if starts_at is not None and starts_at - datetime.now(UTC) < RUN_NOW_MARGIN:
        raise JobStateError(f"job {job_id} starts within {RUN_NOW_MARGIN.seconds} s by itself")


async def job_input(client: Client, job_id: str, shape: Shape) -> tuple[JobKind | None, Any]:
    """The kind and the input (as JSON) a job was started with: an activity's from its description, a workflow's
    from its first event (a retry by reset or re-run keeps it). None as input when it was started without one."""
    if shape is Shape.ACTIVITY:
        desc = await client.get_activity_handle(job_id).describe(include_input=True)
        temporal_type, payloads = desc.activity_type, list(desc.raw_input.payloads if desc.raw_input else [])
    else:
        temporal_type, payloads = "", []
        async for event in client.get_workflow_handle(job_id).fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            temporal_type, payloads = started.workflow_type.name, list(started.input.payloads)
            break
    values = client.data_converter.payload_converter.from_payloads(payloads) if payloads else [None]
    return kind_of(temporal_type), values[0]


async def cancel(client: Client, job_id: str, shape: Shape) -> None:
    """Request cancellation: the job's running step is told at its next heartbeat; the job ends `cancelled`."""
    if shape is Shape.ACTIVITY:
        handle = client.get_activity_handle(job_id)
        state = activity_state(await handle.describe())
        if state.done:
            raise JobStateError(f"job {job_id} already ended ({state.value}): nothing to cancel")
        await handle.cancel(reason="cancelled with conveyor")
        return
    workflow = client.get_workflow_handle(job_id)
    desc = await workflow.describe()
    if desc.status not in (None, WorkflowExecutionStatus.RUNNING):
        raise JobStateError(f"job {job_id} already ended ({WORKFLOW_STATE[desc.status].value}): nothing to cancel")
    await workflow.cancel()
