"""The built-in reports: `jobs-summary` (Conveyor's own jobs, from Temporal visibility) and `csv-file`."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import ActivityExecutionCount, Client, WorkflowExecutionCount, WorkflowHistoryEventFilterType

from activities.data_files import data_file
from activities.failure_watch import failure_named
from activities.reports.registry import ReportContext, Row, report
from contracts.errors import ReportSourceError
from contracts.report import CsvFileParams, JobsSummaryParams


async def _job_counts(client: Client, ctx: ReportContext, since: str) -> list[Row]:
    """Jobs per type and state: workflows, then standalone activities (each shape has its own count call)."""
    rows: list[Row] = []
    for job_type in ctx.workflow_types:
        rows += _grouped(job_type, await client.count_workflows(_started("WorkflowType", job_type, since)))
    for job_type in ctx.activity_types:
        rows += _grouped(job_type, await client.count_activities(_started("ActivityType", job_type, since)))
    return rows


def _started(field: str, job_type: str, since: str) -> str:
    return f"{field} = '{job_type}' AND StartTime > '{since}' GROUP BY ExecutionStatus"


def _grouped(job_type: str, counted: WorkflowExecutionCount | ActivityExecutionCount) -> list[Row]:
    by_state = {str(g.group_values[0]): g.count for g in counted.groups}
    # GROUP BY works on every visibility store, ORDER BY not on SQLite: sort here instead.
    return [(job_type, state, by_state[state], "", "") for state in sorted(by_state)]


def _failed(field: str, types: list[str], since: str) -> str:
    wanted = " OR ".join(f"{field} = '{t}'" for t in types)
    return f"ExecutionStatus = 'Failed' AND StartTime > '{since}' AND ({wanted})"


async def _failures(client: Client, ctx: ReportContext, since: str, limit: int) -> list[Row]:
    """Failed jobs of both shapes, workflows first, at most `limit` in all."""
    rows: list[Row] = []
    if limit and ctx.workflow_types:
        rows += await _failed_workflows(client, _failed("WorkflowType", ctx.workflow_types, since), limit)
    if len(rows) < limit and ctx.activity_types:
        query = _failed("ActivityType", ctx.activity_types, since)
        async for job in client.list_activities(query, limit=limit - len(rows)):
            described = await client.get_activity_handle(job.activity_id, run_id=job.activity_run_id).describe(
                include_outcome=True
            )
            failure = await described.outcome_failure()
            reason = ": ".join(failure_named(failure)) if failure is not None else ""
            rows.append((job.activity_type, "Failed", "", job.activity_id, reason))
    return rows


async def _failed_workflows(client: Client, query: str, limit: int) -> list[Row]:
    rows: list[Row] = []
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        reason = ""
        async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                failure = event.workflow_execution_failed_event_attributes.failure
                reason = f"{failure.application_failure_info.type or 'Failure'}: {failure.message}"
        rows.append((execution.workflow_type, "Failed", "", execution.id, reason))
    return rows


@report(
    "jobs-summary",
    title="Jobs summary",
    columns=["job type", "state", "jobs", "failed job", "failure"],
    params=JobsSummaryParams,
)
def jobs_summary(params: JobsSummaryParams, ctx: ReportContext) -> Iterator[Row]:
    """Jobs per type and state started in the window, then the failed ones with their failure."""
    since = (datetime.now(UTC) - timedelta(hours=params.hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    counts = ctx.temporal(lambda c: _job_counts(c, ctx, since))
    failures = ctx.temporal(lambda c: _failures(c, ctx, since, params.failures))
    ctx.expect_rows(len(counts) + len(failures))
    yield from counts
    yield from failures


@report("csv-file", title="CSV file", params=CsvFileParams)
def csv_file(params: CsvFileParams, ctx: ReportContext) -> Iterator[Row]:
    """The file's rows, header first; counted in a first pass (cheap next to rendering) for progress."""
    path = data_file(params.path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            ctx.expect_rows(max(0, sum(1 for _ in csv.reader(f)) - 1))
        with path.open(newline="", encoding="utf-8-sig") as f:
            yield from csv.reader(f)
    except OSError as e:
        raise ReportSourceError(f"cannot read {params.path}: {e.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise ReportSourceError(f"{params.path} is not a UTF-8 CSV file: {e}") from None
