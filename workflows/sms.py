"""`SendSms`: one text message, sent by a single activity on the rate-limited SMS task queue."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sms import SmsActivities
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from contracts.sms import SendSmsInput, SmsJob, SmsResult
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES

__all__ = ["SendSms"]


@workflow.defn(name="SendSms")
class SendSms(JobWorkflow):
    """Send one SMS. Input: an `SmsJob` as JSON. Result: an `SmsResult`."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> SmsResult:
        """Validate the job, then send it through the provider."""
        try:
            job = decode(raw, SmsJob)
            request = SendSmsInput(job_id=workflow.info().workflow_id, job=job)
            result = await self.run_step("sending", 10, SmsActivities.send_sms, request, POLICIES["sms"])
        except JOB_FAILURES as e:
            await self.fail(e)
        self.progress = Progress(stage="sent", percent=100)
        return result
