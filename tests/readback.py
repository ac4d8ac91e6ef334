"""Reading back what Temporal holds for a job, whatever its shape, to check that an option given at enqueue
(priority, delay) reached the server and not just the request, or that nothing secret did."""

from __future__ import annotations

from typing import Any

from temporalio.client import ActivityExecutionDescription, ActivityHandle, Client

from activities.failure_watch import alert_id
from conveyor import Jobs


async def priority_of(jobs: Jobs, job_id: str) -> int | None:
    """The priority key Temporal holds for the job (None or 0: none given, the default)."""
    described = await (await jobs.locate(job_id)).execution.describe()
    if isinstance(described, ActivityExecutionDescription):
        return described.priority.priority_key
    return described.raw_description.workflow_execution_info.priority.priority_key


async def record_of(jobs: Jobs, job_id: str) -> str:
    """Everything Temporal keeps of the job, as text: a workflow's history, or a standalone activity's description
    with its input, heartbeat, last failure and outcome."""
    execution = (await jobs.locate(job_id)).execution
    if isinstance(execution, ActivityHandle):
        described = await execution.describe(
            include_input=True, include_outcome=True, include_heartbeat_details=True, include_last_failure=True
        )
        return f"{described.raw_info}{described.raw_input}{described.raw_outcome}"
    return (await execution.fetch_history()).to_json()


async def alert_for(client: Client, job_id: str) -> ActivityHandle[Any]:
    """The failure alert of an activity-shaped job's latest run (one alert per failed run)."""
    run_id = (await client.get_activity_handle(job_id).describe()).activity_run_id
    return client.get_activity_handle(alert_id(job_id, run_id))
