"""Events driving a job, under the time-skipping server: the follow-up's three days pass in an instant."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import contracts.email
from contracts.welcome import WelcomeJob
from conveyor import InvalidJobError, Jobs, Settings
from tests.smtp_server import SmtpServer


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


def user() -> tuple[str, str]:
    """A user id and address no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return f"u-{tag}", f"user-{tag}@example.com"


async def test_signup_without_activation_gets_welcome_then_follow_up(time_jobs: Jobs, smtp_server: SmtpServer) -> None:
    user_id, email = user()
    created = {"name": "user.created", "user_id": user_id, "email": email, "context": {"name": "Ann"}}
    handle = await time_jobs.signal_event(created)
    again = await time_jobs.signal_event(created)  # a producer's retry: the same flow, no second welcome
    assert handle.id == again.id == f"welcome-{user_id}"
    result = await handle.workflow.result()
    assert (result.welcome_sent, result.follow_up_sent, result.activated) == (True, True, False)
    assert [m["Subject"] for m in smtp_server.to(email)] == [
        "Welcome to Conveyor, Ann!",
        "Ann, your Conveyor account is waiting",
    ]


async def test_activation_before_the_delay_cancels_the_follow_up(time_jobs: Jobs, smtp_server: SmtpServer) -> None:
    user_id, email = user()
    handle = await time_jobs.signal_event({"name": "user.created", "user_id": user_id, "email": email})
    await time_jobs.signal_event({"name": "user.activated", "user_id": user_id})
    result = await handle.workflow.result()
    assert (result.welcome_sent, result.follow_up_sent, result.activated) == (True, False, True)
    assert [m["Subject"] for m in smtp_server.to(email)] == [f"Welcome to Conveyor, {user_id}!"]
    late = await time_jobs.signal_event({"name": "user.created", "user_id": user_id, "email": email})
    assert late.id == handle.id and len(smtp_server.to(email)) == 1, "a flow that ended is not started again"


async def test_created_event_without_address_is_refused_before_temporal(time_jobs: Jobs) -> None:
    user_id, _ = user()
    with pytest.raises(InvalidJobError, match="email"):
        await time_jobs.signal_event({"name": "user.created", "user_id": user_id})
    # The flow the event would have started does not exist (describe reads the server's own record, not the
    # eventually consistent visibility, so a start made before the refusal returned would show).
    with pytest.raises(RPCError) as missing:
        await time_jobs.client.get_workflow_handle(f"welcome-{user_id}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def assert_not_started(jobs: Jobs, job_id: str) -> None:
    with pytest.raises(RPCError) as missing:
        await jobs.client.get_workflow_handle(job_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_deeply_nested_event_is_refused_before_temporal(time_jobs: Jobs) -> None:
    user_id, email = user()
    with pytest.raises(InvalidJobError, match=r"context: .*nested more than 32 levels deep"):
        await time_jobs.signal_event({"name": "user.created", "user_id": user_id, "email": email, "context": deep(40)})
    await assert_not_started(time_jobs, f"welcome-{user_id}")


def test_follow_up_is_capped_like_every_delay() -> None:
    with pytest.raises(InvalidJobError, match="follow_up_after"):
        WelcomeJob(user_id="u", follow_up_after=timedelta(days=999999999))
    with pytest.raises(ValueError, match="welcome_follow_up_after"):
        Settings(welcome_follow_up_after=timedelta(days=366))
    assert WelcomeJob(user_id="u", follow_up_after=timedelta(days=365)).follow_up_after.days == 365


async def welcome_failure(jobs: Jobs, user_id: str, event: dict[str, Any]) -> ApplicationError:
    """Start the flow of `user_id` with `event` as a raw producer would (no client-side check) and return how it
    failed (the time-skipping server: a flow left waiting would skip to its follow-up, not hang the test)."""
    handle = await jobs.client.start_workflow(
        "Welcome", {"user_id": user_id}, id=f"welcome-{user_id}", task_queue=jobs.settings.task_queue,
        start_signal="event", start_signal_args=[event],
    )  # fmt: skip
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


async def test_malformed_raw_event_fails_the_flow_at_once_with_invalid_job(time_jobs: Jobs) -> None:
    user_id, email = user()
    event = {"name": "user.created", "user_id": user_id, "email": email, "context": deep(40)}
    failure = await welcome_failure(time_jobs, user_id, event)
    assert failure.type == "InvalidJob" and failure.non_retryable
    assert "nested more than 32 levels deep" in failure.message
    assert (await time_jobs.status(f"welcome-{user_id}")).attempts <= 1


async def test_email_that_cannot_be_built_fails_the_flow_not_its_workflow_task(
    time_jobs: Jobs, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the event check misses: building the email raises `InvalidJobError`, which would fail the workflow
    # task for ever (the flow stuck "running") if the flow did not turn it into its own failure. Nothing valid as
    # an event is invalid as an email today, so the real model is handed a bad address: its own refusal (not
    # text written here) must come back as the flow's failure.
    real = contracts.email.EmailJob

    def unbuildable(**fields: Any) -> contracts.email.EmailJob:
        return real(**{**fields, "to": ["not-an-address"]})

    monkeypatch.setattr(contracts.email, "EmailJob", unbuildable)  # read by the flow's sandbox when a run starts
    user_id, email = user()
    failure = await welcome_failure(time_jobs, user_id, {"name": "user.created", "user_id": user_id, "email": email})
    assert (failure.type, failure.non_retryable) == ("InvalidJob", True)
    assert failure.message.startswith("invalid email job: to.0: value is not a valid email address"), failure.message
    assert smtp_server.to(email) == []
