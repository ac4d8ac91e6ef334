"""The built-in reports: `jobs-summary` (Conveyor's own jobs, from Temporal visibility) and `csv-file`."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistoryEventFilterType

from activities.data_files import data_file
from activities.reports.registry import ReportContext, Row, report
from contracts.errors import ReportSourceError
from contracts.report import CsvFileParams, JobsSummaryParams


async def _job_counts(client: Client, types: list[str], since: str) -> list[Row]:
    rows: list[Row] = []
    for workflow_type in types:
        # GROUP BY works on every visibility store, ORDER BY not on SQLite: sort here instead.
        counted = await client.count_workflows(
            f"WorkflowType = '{workflow_type}' AND StartTime > '{since}' GROUP BY ExecutionStatus"
        )
        for group in sorted(counted.groups, key=lambda g: str(g.group_values)):
            rows.append((workflow_type, str(group.group_values[0]), group.count, "", ""))
    return rows


async def _failures(client: Client, types: list[str], since: str, limit: int) -> list[Row]:
    if not limit or not types:
        return []
    wanted = " OR ".join(f"WorkflowType = '{t}'" for t in types)
    rows: list[Row] = []
    async for execution in client.list_workflows(
        f"ExecutionStatus = 'Failed' AND StartTime > '{since}' AND ({wanted})", limit=limit
    ):
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
    counts = ctx.temporal(lambda c: _job_counts(c, ctx.workflow_types, since))
    failures = ctx.temporal(lambda c: _failures(c, ctx.workflow_types, since, params.failures))
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
