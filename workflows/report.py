"""`GenerateReport`: render a registered report to PDF or CSV, store it, and email it when asked.

Delivery is a child `SendEmail` job whose id is derived from the report job's id (`email-<job-id>`), with
duplicate ids refused: a retried or reset report job never emails twice, and the email is a job of its own
(retries, status, web UI) like any other.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RawValue, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.email_models import EmailResult
    from activities.report import ReportActivities
    from activities.report_models import RenderReportInput, ReportJob, ReportResult
    from workflows.job import JobProgress, JobWorkflow, decode, job_failure
    from workflows.policies import POLICIES

__all__ = ["GenerateReport", "ReportJob", "ReportResult"]


@workflow.defn(name="GenerateReport")
class GenerateReport(JobWorkflow):
    """Generate one report. Input: a `ReportJob` as JSON. Result: a `ReportResult`."""

    @workflow.run
    async def run(self, raw: RawValue) -> ReportResult:
        """Validate the job, render and store the report, then deliver it by email if `deliver_to` is set."""
        job = decode(raw, ReportJob)
        job_id = workflow.info().workflow_id
        rendered = await self.run_step(
            "rendering",
            5,
            ReportActivities.render_report,
            RenderReportInput(job_id=job_id, job=job),
            POLICIES["report"],
        )
        result = ReportResult(
            key=rendered.key,
            filename=rendered.filename,
            size=rendered.size,
            rows=rendered.rows,
            pages=rendered.pages,
            url=rendered.url,
        )
        if rendered.delivery is not None:
            self.progress = JobProgress(stage="delivering", percent=90)
            result.email_job_id = f"email-{job_id}"
            try:
                await workflow.execute_child_workflow(
                    "SendEmail",
                    rendered.delivery.email,
                    id=result.email_job_id,
                    task_queue=rendered.delivery.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    result_type=EmailResult,
                )
            except WorkflowAlreadyStartedError:
                pass  # an earlier run of this job already emailed the report
            except ChildWorkflowError as e:
                raise job_failure(e) from e
            result.emailed_to = list(rendered.delivery.email.to)
        self.progress = JobProgress(stage="done", percent=100)
        return result
