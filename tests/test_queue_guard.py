"""A job of any kind started on another kind's task queue (by a non-Python producer) fails at once as `InvalidJob`
naming the right queue — from the job registry — instead of retrying "activity not registered" for minutes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import ActivityFailureError, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, Settings


def right_queue(settings: Settings, kind: str) -> str:
    return {"sms": settings.sms_task_queue, "report": settings.reports_task_queue}.get(kind, settings.task_queue)


@pytest.mark.parametrize(
    ("workflow", "kind", "job", "wrong"),
    [
        ("SendSms", "sms", {"to": "+12025550143", "body": "hi"}, "task_queue"),
        ("GenerateReport", "report", {"report": "jobs-summary"}, "task_queue"),
        ("Broadcast", "broadcast", {"source": "static:a@example.com", "message": {"template": "newsletter"}},
         "sms_task_queue"),
        ("SendEmail", "email", {"to": ["a@example.com"], "subject": "s", "text": "t"}, "reports_task_queue"),
    ],
)  # fmt: skip
async def test_workflow_job_on_the_wrong_queue_fails_at_once_naming_the_right_one(
    jobs: Jobs, temporal_env: WorkflowEnvironment, settings: Settings, workflow: str, kind: str, job: Any, wrong: str
) -> None:
    handle = await temporal_env.client.start_workflow(
        workflow, job, id=f"{kind}-{uuid.uuid4()}", task_queue=getattr(settings, wrong)
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidJob" and cause.non_retryable
    assert f"start it on '{right_queue(settings, kind)}'" in cause.message
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")], "no step ran"


async def test_activity_job_on_the_wrong_queue_fails_at_once_naming_the_right_one(
    jobs: Jobs, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    handle = await temporal_env.client.start_activity(
        "sms", {"to": "+12025550143", "body": "hi"}, id=f"sms-{uuid.uuid4()}", task_queue=settings.task_queue,
        start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=5),
    )  # fmt: skip
    with pytest.raises(ActivityFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidJob"
    assert f"start it on '{settings.sms_task_queue}'" in cause.message
    assert (await handle.describe()).attempt == 1, "refused on its first attempt, not retried"
