"""Conveyor's periodic jobs, declared as data. `conveyor schedules apply` (and `conveyor dev`, `conveyor worker
--apply-schedules`) makes the cluster's schedules match this list; see `worker.schedule_apply`.

They are plain Temporal schedules: `temporal schedule list / describe / trigger / pause / unpause / backfill`
work on them, and each fires once however many workers run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import ScheduleOverlapPolicy

from conveyor.settings import Settings


@dataclass(frozen=True)
class DeclaredSchedule:
    """One periodic job: when it fires (cron and/or interval, in a time zone), and which workflow it starts."""

    id: str
    """The schedule's id, and the prefix of its runs' workflow ids (Temporal appends the scheduled time)."""
    workflow: str
    """Workflow type to start, by name (so a job built on another task queue needs no import here)."""
    input: Mapping[str, Any]
    """The workflow's one argument, as JSON: the same contract any producer uses."""
    task_queue: str
    workflow_id: str
    """Id of each run, before Temporal appends the scheduled time: `<kind>-<schedule id>`."""
    cron: tuple[str, ...] = ()
    """Cron expressions (`minute hour day-of-month month day-of-week`)."""
    every: timedelta | None = None
    """An interval, instead of or besides `cron`."""
    time_zone: str = "UTC"
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    """What to do when it fires while its last run still runs: skip, by default."""
    catchup_window: timedelta = timedelta(hours=1)
    """After an outage, fire the missed times that are at most this old (once each), skip older ones."""
    jitter: timedelta | None = None
    pause_on_failure: bool = False
    paused: bool = False
    """The state it is created in; afterwards pause and unpause belong to operators, and apply leaves them."""
    note: str = ""


def declared(settings: Settings) -> list[DeclaredSchedule]:
    """The schedules Conveyor ships. Edit this list (or build your own) and run `conveyor schedules apply`."""
    return [
        DeclaredSchedule(
            id="daily-jobs-report",
            workflow="GenerateReport",
            # Without CONVEYOR_OPS_EMAIL the report is stored, not emailed.
            input={
                "report": "jobs-summary",
                "format": "pdf",
                "deliver_to": [settings.ops_email] if settings.ops_email else [],
            },
            task_queue=settings.reports_task_queue,
            workflow_id="report-daily-jobs-report",
            cron=("0 2 * * *",),
            note="Yesterday's jobs, as a PDF emailed to CONVEYOR_OPS_EMAIL.",
        ),
        DeclaredSchedule(
            id="weekly-cleanup",
            workflow="Cleanup",
            input={},
            task_queue=settings.task_queue,
            workflow_id="cleanup-weekly-cleanup",
            cron=("0 3 * * 0",),
            note="Deletes stored reports and outbox files older than CONVEYOR_RETENTION_DAYS.",
        ),
        DeclaredSchedule(
            id="failure-watch",
            workflow="FailureWatcher",
            input={
                "lookback_seconds": 900,
                "task_queues": [settings.task_queue, settings.sms_task_queue, settings.reports_task_queue],
            },
            task_queue=settings.task_queue,
            workflow_id="failure_watch-failure-watch",
            every=timedelta(minutes=1),
            catchup_window=timedelta(minutes=15),  # a longer outage is covered by the 15-minute lookback anyway
            note="Alerts once per activity-shaped job (email, SMS...) that failed or timed out for good.",
        ),
        DeclaredSchedule(
            id="hourly-digest",
            workflow="Broadcast",
            input={
                "source": "csv:digest-recipients.csv",  # in the worker's data directory
                "message": {"template": "newsletter", "context": {"title": "Your hourly digest"}},
                "continue_every": settings.broadcast_continue_every,
            },
            task_queue=settings.task_queue,
            workflow_id="broadcast-hourly-digest",
            every=timedelta(hours=1),
            paused=True,
            note="An example broadcast; unpause it once digest-recipients.csv exists.",
        ),
    ]
