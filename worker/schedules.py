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

from contracts.kinds import KINDS
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
    """After an outage, the fire times missed that are at most this old are caught up once the server is back (under
    overlap SKIP as one run, for the earliest of them; under BUFFER_ALL each once, in turn); older ones are not run."""
    jitter: timedelta | None = None
    pause_on_failure: bool = False
    paused: bool = False
    """The state it is created in; afterwards pause and unpause belong to operators, and apply leaves them."""
    note: str = ""
    tenant: str | None = None
    """Whose jobs it starts: their fairness key and `Tenant` search attribute, as `tenant=` gives an enqueued job."""


def job_schedule(id: str, kind: str, job: Mapping[str, Any], settings: Settings, **when: Any) -> DeclaredSchedule:
    """A schedule starting jobs of `kind` (from the job registry): its workflow, task queue and job-id prefix are
    the kind's, and `job` is validated and prepared from settings as every other path that starts a job."""
    spec = KINDS[kind]
    model = spec.prepare(settings, spec.request.model_validate(job))
    return DeclaredSchedule(
        id=id,
        # Schedules start workflows: an activity-shaped kind runs in its workflow shape here.
        workflow=spec.workflow_type,
        input=model.model_dump(mode="json", exclude_unset=True),
        task_queue=spec.task_queue(settings.queues, model),
        workflow_id=f"{spec.name}-{id}",
        **when,
    )


def declared(settings: Settings) -> list[DeclaredSchedule]:
    """The schedules Conveyor ships. Edit this list (or build your own) and run `conveyor schedules apply`."""
    return [
        job_schedule(
            "daily-jobs-report",
            "report",
            # Without CONVEYOR_OPS_EMAIL the report is stored, not emailed.
            {
                "report": "jobs-summary",
                "format": "pdf",
                "deliver_to": [settings.ops_email] if settings.ops_email else [],
            },
            settings,
            cron=("0 2 * * *",),
            note="Yesterday's jobs, as a PDF emailed to CONVEYOR_OPS_EMAIL.",
        ),
        job_schedule(
            "weekly-cleanup",
            "cleanup",
            {},
            settings,
            cron=("0 3 * * 0",),
            note="Deletes stored reports and outbox files older than CONVEYOR_RETENTION_DAYS.",
        ),
        job_schedule(
            "failure-watch",
            "failure_watch",
            {
                "lookback_seconds": 900,
                "task_queues": [
                    settings.task_queue,
                    settings.sms_task_queue,
                    settings.reports_task_queue,
                    settings.images_task_queue,
                ],
            },
            settings,
            every=timedelta(minutes=1),
            catchup_window=timedelta(minutes=15),  # a longer outage is covered by the 15-minute lookback anyway
            note="Alerts once per activity-shaped job (email, SMS...) that failed or timed out for good.",
        ),
        job_schedule(
            "hourly-digest",
            "broadcast",
            {
                "source": "csv:digest-recipients.csv",  # in the worker's data directory
                "message": {"template": "newsletter", "context": {"title": "Your hourly digest"}},
            },
            settings,
            every=timedelta(hours=1),
            paused=True,
            note="An example broadcast; unpause it once digest-recipients.csv exists.",
        ),
    ]
