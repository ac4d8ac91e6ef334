"""`FailureWatcher`: announces activity-shaped jobs that failed for good, once per job (the `failure-watch`
schedule, every minute).

A workflow job runs its own alert before failing; a job run as a standalone activity has nothing around it to
do that, and its last attempt cannot alert on a time-out or a killed worker. So a schedule starts this workflow,
whose one activity asks the server's visibility for jobs that closed failed or timed out in the run's window
and starts one `alert-<job id>-<run id>` alert per job (see `activities.failure_watch` for why that is exactly once).

Why a schedule and not one long-lived workflow with a watermark: each run is short and stateless, so a run that
fails, a worker deploy, or a paused schedule loses nothing that the next run's overlapping window does not pick
up; `conveyor schedules apply` already starts it idempotently, and operators see, pause and trigger it like the
other periodic jobs. The server-side dedupe of the alert id, not the watcher's state, carries "exactly once".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.failure_watch import FailureWatch
    from contracts.failure_watch import FailureWatchInput, FailureWatchReport, FailureWindow
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from workflows.job import ProgressQuery
    from workflows.policies import POLICIES

__all__ = ["FailureWatcher"]


@workflow.defn(name="FailureWatcher")
class FailureWatcher(ProgressQuery):
    """Alert every activity-shaped job closed failed or timed out within `lookback_seconds`, once per job."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> FailureWatchReport:
        """One window, ending now on the workflow's clock, scanned by one activity."""
        request = decode(raw, FailureWatchInput)
        since = workflow.now() - timedelta(seconds=request.lookback_seconds)
        window = FailureWindow(since=since, task_queues=request.task_queues)
        self.progress = Progress(stage="alerting", percent=10)
        report = await workflow.execute_activity_method(
            FailureWatch.alert_failed_jobs, window, **POLICIES["failure-watch"].activity_options()
        )
        self.progress = Progress(stage="done", percent=100)
        return report
