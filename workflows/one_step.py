"""`OneStepJob`: any activity-shaped job run as a one-step workflow, for servers without standalone activities.

An activity-shaped kind is its activity. Where the server runs no standalone activities (older than 1.31, Temporal
Cloud without the preview, the time-skipping test server), the producer starts the job as a workflow of the
kind's own name instead (`JobKind.workflow_type`), with the same id and input; this one dynamic workflow, which
every worker registers, runs it: the kind's activity under the kind's policy row, on the job's task queue, its
progress answered to `status` and its final failure alerted like any workflow job's. So a team's `@job` needs no
workflow of its own to run everywhere.

A workflow type that names no activity-shaped kind here fails the workflow *task* (not the job): it waits for a
worker that knows the type (a newer one, during a deploy), as an unregistered type would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from contracts.kinds import Shape, kind_of
    from contracts.progress import Progress
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import policy_of

__all__ = ["OneStepJob"]


@workflow.defn(dynamic=True)
class OneStepJob(JobWorkflow):
    """Run the activity of the kind this workflow type names. Input: the job's own, passed on undecoded (the
    activity checks it: bad input fails the job at once as `InvalidJob`). Result: the activity's."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        """One step: the kind's activity."""
        kind = kind_of(workflow.info().workflow_type)
        if kind is None or kind.shape is not Shape.ACTIVITY or kind.earlier_types:
            raise RuntimeError(f"no one-step job runs as {workflow.info().workflow_type!r} on this worker")
        self.progress = Progress(stage=kind.stage, percent=10)
        try:
            result = await workflow.execute_activity(
                kind.runs_as, args=list(args), result_type=RawValue, **policy_of(kind).activity_options()
            )
        except JOB_FAILURES as e:
            await self.fail(e)
        self.progress = Progress(stage="done", percent=100)
        return result
