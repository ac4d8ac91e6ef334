"""What a team's own workflow (`@job.workflow`) builds on: the base class of Conveyor's workflows.

    @job.workflow
    @workflow.defn
    class Onboard(JobWorkflow):
        @workflow.run
        async def run(self, customer: Customer) -> Onboarded:
            try:
                self.progress = Progress(stage="syncing", percent=10)
                synced = await crm_sync.step(customer)
                ...
            except JOB_FAILURES as e:
                await self.fail(e)

`JobWorkflow` answers the `status` query with `self.progress` (`conveyor status`, the web UI) and `fail` ends
the job typed by its cause, alerting once, as Conveyor's own workflows do. Its own module, apart from
`conveyor.team_jobs`, because it loads the workflow machinery, which a producer importing `@job` handles needs not.
"""

from __future__ import annotations

from contracts.progress import Progress
from workflows.job import JOB_FAILURES, JobWorkflow

__all__ = ["JOB_FAILURES", "JobWorkflow", "Progress"]
