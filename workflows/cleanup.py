"""`Cleanup`: the weekly maintenance job (the `weekly-cleanup` schedule): purge files past their retention."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cleanup import CleanupActivities
    from contracts.cleanup import CleanupJob, CleanupResult, PurgeInput
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES

__all__ = ["Cleanup"]


@workflow.defn(name="Cleanup")
class Cleanup(JobWorkflow):
    """Purge stored reports and outbox files past retention. Input: a `CleanupJob`. Result: a `CleanupResult`."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> CleanupResult:
        """Purge reports, then outbox files, each in one activity; the cutoff is taken from the workflow's clock."""
        try:
            job = decode(raw, CleanupJob)
            request = PurgeInput(now=workflow.now(), retention_days=job.retention_days)
            policy = POLICIES["cleanup"]
            reports = await self.run_step("purging reports", 10, CleanupActivities.purge_reports, request, policy)
            outbox = await self.run_step("purging outbox", 50, CleanupActivities.purge_outbox, request, policy)
        except JOB_FAILURES as e:
            await self.fail(e)
        self.progress = Progress(stage="done", percent=100)
        return CleanupResult(reports=reports, outbox=outbox)
