"""`SendEmail`: one email, rendered and sent by a single activity, retried by the `email` policy row."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from contracts.email import EmailJob, EmailResult, SendEmailInput
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES

__all__ = ["SendEmail"]


@workflow.defn(name="SendEmail")
class SendEmail(JobWorkflow):
    """Send one email. Input: an `EmailJob` as JSON. Result: an `EmailResult`."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> EmailResult:
        """Validate the job, then render and send it in one activity."""
        try:
            job = decode(raw, EmailJob)
            result = await self.run_step(
                "sending",
                10,
                EmailActivities.send_email,
                SendEmailInput(job_id=workflow.info().workflow_id, job=job),
                POLICIES["email"],
            )
        except JOB_FAILURES as e:
            await self.fail(e)
        self.progress = Progress(stage="sent", percent=100)
        return result
