"""`GenerateReport`: render a registered report to PDF or CSV, store it, and email it when asked.

Delivery is a child `SendEmail` job whose id is derived from the report job's id (`email-<job-id>`), with
duplicate ids refused: a retried or reset report job never emails twice, and the email is a job of its own
(retries, status, web UI) like any other.
"""

from __future__ import annotations

import contextlib
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.report import ReportActivities
    from contracts.email import EmailResult
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from contracts.report import RenderReportInput, ReportJob, ReportResult, StoredReport
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES

__all__ = ["GenerateReport"]


@workflow.defn(name="GenerateReport")
class GenerateReport(JobWorkflow):
    """Generate one report. Input: a `ReportJob` as JSON. Result: a `ReportResult`."""

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> ReportResult:
        """Validate the job, render and store the report, then deliver it by email if `deliver_to` is set."""
        try:
            return await self.generate(decode(raw, ReportJob))
        except JOB_FAILURES as e:
            await self.fail(e)

    async def generate(self, job: ReportJob) -> ReportResult:
        """Render and store the report, then deliver it (a child email job) when asked to."""
        job_id = workflow.info().workflow_id
        rendered = await self.run_step(
            "rendering",
            5,
            ReportActivities.render_report,
            RenderReportInput(job_id=job_id, job=job),
            POLICIES["report"],
        )
        result = ReportResult.model_validate(rendered.model_dump(include=set(StoredReport.model_fields)))
        if rendered.delivery is not None:
            self.progress = Progress(stage="delivering", percent=90)
            result.email_job_id = f"email-{job_id}"
            with contextlib.suppress(WorkflowAlreadyStartedError):  # an earlier run already emailed it
                await workflow.execute_child_workflow(
                    "SendEmail",
                    rendered.delivery.email,
                    id=result.email_job_id,
                    task_queue=rendered.delivery.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    result_type=EmailResult,
                )
            result.emailed_to = list(rendered.delivery.email.to)
        self.progress = Progress(stage="done", percent=100)
        return result
