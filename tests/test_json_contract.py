"""Non-Python producers: any Temporal client can enqueue a job with plain JSON, no Conveyor code.

Run with the real `temporal` CLI, the same way a Node or Go service would call `StartWorkflowExecution`.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from conveyor import JobFailed, Jobs, Settings
from tests.cli import run
from tests.conftest import TEMPORAL
from tests.smtp_server import SmtpServer
from worker.build import WORKFLOWS
from workflows.policies import POLICIES


async def start_by_cli(settings: Settings, workflow_type: str, payload: dict[str, object]) -> str:
    job_id = f"email-{uuid.uuid4().hex}"
    ran = await run(
        str(TEMPORAL), "workflow", "start", "--address", settings.temporal_address,
        "--type", workflow_type, "--task-queue", settings.task_queue, "--workflow-id", job_id,
        "--input", json.dumps(payload),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    return job_id


async def test_temporal_cli_json_is_processed_like_any_job(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    job_id = await start_by_cli(
        settings, "SendEmail", {"to": ["json-ann@example.com"], "template": "welcome", "context": {"name": "Ann"}}
    )
    result = await jobs.result(job_id)
    assert result.accepted == ["json-ann@example.com"]
    [msg] = smtp_server.to("json-ann@example.com")
    assert msg["Message-ID"] == f"<{job_id}@conveyor.test>"


async def test_invalid_json_fails_fast_naming_the_field(jobs: Jobs, settings: Settings) -> None:
    job_id = await start_by_cli(settings, "SendEmail", {"to": ["not-an-address"], "template": "welcome"})
    with pytest.raises(JobFailed) as failed:
        await jobs.result(job_id)
    assert failed.value.type == "InvalidJob"
    assert "to.0" in failed.value.message


MALFORMED_STARTS: dict[str, list[str]] = {
    "no input": [],
    "two inputs": ["--input", "{}", "--input", "{}"],
    "binary/plain bytes": ["--input", '"aGk="', "--input-meta", "encoding=binary/plain"],
    "an unknown encoding": ["--input", "{}", "--input-meta", "encoding=application/x-nope"],
    "JSON 900 levels deep": ["--input", '{"a":' * 900 + "1" + "}" * 900],
    "a JSON list": ["--input", "[1, 2]"],
    "a JSON string": ["--input", '"hello"'],
}


@pytest.mark.parametrize("start", MALFORMED_STARTS)
@pytest.mark.parametrize("workflow_type", sorted(w.__temporal_workflow_definition.name for w in WORKFLOWS))  # type: ignore[attr-defined]
async def test_every_malformed_start_fails_at_once_as_invalid_job(
    jobs: Jobs, settings: Settings, workflow_type: str, start: str
) -> None:
    job_id = f"bad-{uuid.uuid4().hex}"
    ran = await run(
        str(TEMPORAL), "workflow", "start", "--address", settings.temporal_address,
        "--type", workflow_type, "--task-queue", settings.task_queue, "--workflow-id", job_id,
        *MALFORMED_STARTS[start],
    )  # fmt: skip
    assert ran.code == 0, ran.err
    with pytest.raises(JobFailed) as failed:
        await asyncio.wait_for(jobs.result(job_id), timeout=20)
    assert failed.value.type == "InvalidJob"
    assert (await jobs.status(job_id)).attempts <= 1, "failed at once, not after a retry loop"


async def start_activity_by_cli(settings: Settings, kind: str, *input_args: str, queue: str | None = None) -> str:
    """`temporal activity start` of a job of an activity-shaped kind, as a non-Python producer does it (with the
    start-to-close time-out the server requires, and nothing of Conveyor's policy)."""
    job_id = f"{kind}-{uuid.uuid4().hex}"
    ran = await run(
        str(TEMPORAL), "activity", "start", "--address", settings.temporal_address,
        "--type", kind, "--task-queue", queue or settings.task_queue, "--activity-id", job_id,
        "--start-to-close-timeout", "1m", *input_args,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    return job_id


async def test_temporal_activity_start_json_is_an_email_job_like_any_other(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    payload = {"to": ["json-bo@example.com"], "template": "welcome", "context": {"name": "Bo"}}
    job_id = await start_activity_by_cli(settings, "email", "--input", json.dumps(payload))
    result = await jobs.result(job_id)
    assert result.accepted == ["json-bo@example.com"]
    [msg] = smtp_server.to("json-bo@example.com")
    assert msg["Message-ID"] == f"<{job_id}@conveyor.test>" and msg["Subject"] == "Welcome to Conveyor, Bo!"
    status = await jobs.status(job_id)
    assert (status.kind, status.state.value, status.shape.value) == ("email", "completed", "activity")


async def test_invalid_activity_json_fails_at_once_naming_the_field(jobs: Jobs, settings: Settings) -> None:
    job_id = await start_activity_by_cli(
        settings, "email", "--input", json.dumps({"to": ["not-an-address"], "template": "welcome"})
    )
    with pytest.raises(JobFailed) as failed:
        await asyncio.wait_for(jobs.result(job_id), timeout=20)
    assert failed.value.type == "InvalidJob" and "to.0" in failed.value.message
    assert (await jobs.status(job_id)).attempts == 1, "not retried: the server's default policy would retry forever"


@pytest.mark.parametrize("start", MALFORMED_STARTS)
@pytest.mark.parametrize("kind", ["email", "sms"])
async def test_every_malformed_activity_start_fails_at_once_as_invalid_job(
    jobs: Jobs, settings: Settings, kind: str, start: str
) -> None:
    queue = settings.queues["sms"] if kind == "sms" else settings.task_queue
    job_id = await start_activity_by_cli(settings, kind, *MALFORMED_STARTS[start], queue=queue)
    with pytest.raises(JobFailed) as failed:
        await asyncio.wait_for(jobs.result(job_id), timeout=20)
    assert failed.value.type == "InvalidJob"
    assert (await jobs.status(job_id)).attempts == 1


async def test_a_job_started_without_its_policy_still_stops_at_its_policys_attempts(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    """A producer that gives no retry policy (the server's default retries for ever; quick intervals here, to keep
    the test short) still gets the email row's attempts: the worker makes the last one final, and it alerts."""
    to = f"json-down-{uuid.uuid4().hex[:8]}@example.com"
    smtp_server.fail(to, 451, times=1000)
    payload = {"to": [to], "subject": "s", "text": "t"}
    job_id = await start_activity_by_cli(
        settings, "email", "--input", json.dumps(payload),
        "--retry-initial-interval", "50ms", "--retry-maximum-interval", "50ms",
    )  # fmt: skip
    with pytest.raises(JobFailed) as failed:
        await asyncio.wait_for(jobs.result(job_id), timeout=60)
    assert failed.value.type == "SmtpUnavailable"
    assert (await jobs.status(job_id)).attempts == POLICIES["email"].max_attempts
    assert len(smtp_server.to(to)) == 0
