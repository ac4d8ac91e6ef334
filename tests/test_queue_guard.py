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
from tests.cli import run
from tests.conftest import TEMPORAL


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


async def test_an_activity_of_an_unknown_type_fails_at_once_naming_the_kinds_that_run_there(
    jobs: Jobs, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """`temporal activity start --type nosuch` under the server's default policy (unlimited attempts) used to
    retry "not hosted on task queue" for ever; a type hosted on another of Conveyor's queues is just as unknown
    here. Meanwhile the worker's own activities still reach their own functions, not the catch-all."""
    typo = f"nosuch-{uuid.uuid4()}"
    started = await run(
        str(TEMPORAL), "activity", "start", "--address", settings.temporal_address, "--type", "nosuch",
        "--task-queue", settings.task_queue, "--activity-id", typo, "--start-to-close-timeout", "1m", "--input", "{}",
    )  # fmt: skip
    assert started.code == 0, started.err
    other_queues = await temporal_env.client.start_activity(
        "render_report", {}, id=f"stray-{uuid.uuid4()}", task_queue=settings.task_queue,
        start_to_close_timeout=timedelta(seconds=30),
    )  # fmt: skip
    for handle in (temporal_env.client.get_activity_handle(typo), other_queues):
        with pytest.raises(ActivityFailureError) as failed:
            await handle.result()
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "UnknownActivityType" and cause.non_retryable
        activity_type = (await handle.describe()).activity_type
        assert f"no activity of type {activity_type!r} runs on task queue '{settings.task_queue}'" in cause.message
        assert "the job kinds started as activities here: email, webhook)" in cause.message
        assert (await handle.describe()).attempt == 1, "failed on its first attempt, not retried"
    email = await jobs.email({"to": ["a@example.com"], "subject": "s", "text": "t"})
    assert (await email.result()).accepted == ["a@example.com"]
