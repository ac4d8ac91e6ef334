"""Reading back what Temporal holds for a job, whatever its shape, to check that an option given at enqueue
(priority, delay) reached the server and not just the request."""

from __future__ import annotations

from temporalio.client import ActivityExecutionDescription

from conveyor import Jobs


async def priority_of(jobs: Jobs, job_id: str) -> int | None:
    """The priority key Temporal holds for the job (None or 0: none given, the default)."""
    described = await (await jobs.locate(job_id)).execution.describe()
    if isinstance(described, ActivityExecutionDescription):
        return described.priority.priority_key
    return described.raw_description.workflow_execution_info.priority.priority_key
