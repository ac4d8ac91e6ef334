"""Events driving a job, under the time-skipping server: the follow-up's three days pass in an instant."""

from __future__ import annotations

import uuid

import pytest
from temporalio.service import RPCError, RPCStatusCode

from conveyor import InvalidJobError, Jobs
from tests.smtp_server import SmtpServer


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
