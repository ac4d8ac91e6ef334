"""`Cleanup`: the weekly maintenance job (the `weekly-cleanup` schedule): purge files past their retention."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cleanup import CleanupActivities, CleanupJob, CleanupResult, PurgeInput
    from workflows.job import JobProgress, JobWorkflow, decode, job_failure
    from workflows.policies import POLICIES

__all__ = ["Cleanup", "CleanupJob", "CleanupResult"]


@workflow.defn(name="Cleanup")
class Cleanup(JobWorkflow):
    """Purge stored reports and outbox files past retention. Input: a `CleanupJob`. Result: a `CleanupResult`."""

    @workflow.run
    async def run(self, raw: RawValue) -> CleanupResult:
        """Purge reports, then outbox files, each in one activity; the cutoff is taken from the workflow's clock."""
        job = decode(raw, CleanupJob)
        request = PurgeInput(now=workflow.now(), retention_days=job.retention_days)
        options = POLICIES["cleanup"].activity_options()
        try:
            self.progress = JobProgress(stage="purging reports", percent=10)
            reports = await workflow.execute_activity_method(CleanupActivities.purge_reports, request, **options)
            self.progress = JobProgress(stage="purging outbox", percent=50)
            outbox = await workflow.execute_activity_method(CleanupActivities.purge_outbox, request, **options)
        except ActivityError as e:
            raise job_failure(e) from e
        self.progress = JobProgress(stage="done", percent=100)
        return CleanupResult(reports=reports, outbox=outbox)
