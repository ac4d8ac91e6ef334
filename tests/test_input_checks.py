"""Input that activities used to choke on after minutes of retries is refused at the edge by the models, with one
message for every producer; what still reaches an activity fails at once, typed, and a failed job's attempts are
its own (not its alert's)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.client import ActivityFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.data_files import data_file, reading_under
from activities.recipients import source
from contracts.broadcast import BroadcastJob
from contracts.email import EmailJob
from contracts.errors import InvalidJob, as_application_error
from contracts.kinds import Shape
from contracts.report import ReportJob
from contracts.sms import SmsJob
from conveyor import InvalidJobError, JobFailed, Jobs, JobState, Settings
from tests.api_server import ApiThread
from tests.cli import BIN, conveyor, env_for, run
from tests.conftest import settings_for
from tests.readback import alert_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually, started_on
from worker.build import build_workers
from worker.run import running

NOTE: dict[str, Any] = {"to": ["a@example.com"], "subject": "s", "text": "t"}


@pytest.mark.parametrize("char", ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\0"])
def test_subject_and_filename_with_a_line_break_or_control_are_refused(char: str) -> None:
    with pytest.raises(ValidationError, match="subject must be one line"):
        EmailJob.model_validate({**NOTE, "subject": f"Hi{char}Bcc: x@example.com"})
    attachment = {"filename": f"a{char}b.pdf", "content": "aGk="}
    with pytest.raises(ValidationError, match="must be one line"):
        EmailJob.model_validate({**NOTE, "attachments": [attachment]})


def test_emoji_and_tabs_stay_allowed_in_subjects() -> None:
    # RFC 5322: a header body may hold whitespace, HTAB included; only line breaks and other controls split it.
    for subject in ("Ready 👩‍💻", "Order 42\tshipped", "\tIndented"):
        assert EmailJob.model_validate({**NOTE, "subject": subject}).subject == subject
    with pytest.raises(ValidationError, match="U\\+000B"):
        EmailJob.model_validate({**NOTE, "subject": "Order 42\x0bshipped"})  # a vertical tab is a line break


@pytest.mark.parametrize(
    ("attachment", "message"),
    [
        ({"filename": "a", "content": "!!!"}, "not valid base64"),
        ({"filename": "a", "content": "aGk"}, "not valid base64"),
        ({"filename": "a", "content": "aGk=", "content_type": "multipart/mixed"}, "cannot be multipart"),
        ({"filename": "a", "content": "aGk=", "content_type": "message/rfc822"}, "cannot be multipart"),
        ({"filename": "a", "storage_key": "reports/a\0b"}, "control characters"),
    ],
)
def test_attachments_that_would_fail_later_are_refused(attachment: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EmailJob.model_validate({**NOTE, "attachments": [attachment]})


def test_template_names_are_matched_whole() -> None:
    with pytest.raises(ValidationError, match="template must be a name"):
        EmailJob.model_validate({"to": ["a@example.com"], "template": "welcome\n"})
    with pytest.raises(ValidationError, match="template must be a name"):
        BroadcastJob.model_validate({"source": "static:a@example.com", "message": {"template": "welcome\n"}})


@pytest.mark.parametrize("hours", ["inf", "-inf", "nan", "1e308"])
def test_report_hours_must_be_finite_and_bounded(hours: str) -> None:
    with pytest.raises(ValidationError, match=r"params\.hours"):
        ReportJob.model_validate({"report": "jobs-summary", "params": {"hours": hours}})


@pytest.mark.parametrize("job", [{"report": "csv-file", "params": {"path": "a\0b.csv"}}])
def test_paths_with_nul_are_refused(job: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        ReportJob.model_validate(job)
    with pytest.raises(ValidationError, match="control characters"):
        BroadcastJob.model_validate({"source": "csv:a\0b.csv", "message": {"template": "welcome"}})


def test_files_read_by_jobs_refuse_nul_and_directories_without_their_path(tmp_path: Path) -> None:
    with reading_under(tmp_path), pytest.raises(InvalidJob, match="control characters"):
        data_file("a\0b.csv")
    with reading_under(tmp_path), pytest.raises(InvalidJob, match="is a directory") as raised:
        list(source("csv")("."))
    assert str(tmp_path) not in str(raised.value)


@pytest.mark.parametrize("error", [OverflowError("date value out of range"), ValueError("x"), TypeError("y")])
def test_input_errors_in_activities_are_permanent_invalid_job(error: Exception) -> None:
    failure = as_application_error(error)
    assert isinstance(failure, ApplicationError) and failure.type == "InvalidJob" and failure.non_retryable
    assert type(error).__name__ in failure.message


@pytest.mark.parametrize("shape", Shape)
async def test_failed_job_counts_its_own_attempts_not_its_alerts(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, shape: Shape
) -> None:
    bad_hook = SecretStr("http://127.0.0.1:1/hook")  # refuses: the alert is tried 3 times, then given up
    standalone = shape is Shape.ACTIVITY
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, alert_webhook_url=bad_hook, standalone_activities=standalone
    )
    jobs = Jobs(temporal_env.client, settings)
    async with running(build_workers(temporal_env.client, settings)):
        handle = await jobs.email({"to": ["a@example.com"], "template": "welcome"})  # no `name`: fails at once
        with pytest.raises(JobFailed):
            await asyncio.wait_for(handle.result(), 60)
        if shape is Shape.WORKFLOW:  # the alert is the workflow's last step
            history = [e async for e in handle.workflow.fetch_history_events()]
            alert_attempts = [
                e.activity_task_started_event_attributes.attempt
                for e in history
                if e.HasField("activity_task_started_event_attributes")
            ]
        else:  # the alert is a standalone activity of its own, started by the job's last attempt
            alert = await alert_for(temporal_env.client, handle.id)
            with pytest.raises(ActivityFailureError):
                await alert.result()
            alert_attempts = [(await alert.describe()).attempt]
    assert alert_attempts[-1] == 3, "the alert was retried (else this test shows nothing)"
    assert (await jobs.status(handle.id)).attempts == 1


async def test_a_job_whose_alert_is_still_retrying_counts_its_own_attempts(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    bad_hook = SecretStr("http://127.0.0.1:1/hook")  # refuses: the alert is retried (1 s, then 2 s) meanwhile
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, alert_webhook_url=bad_hook, standalone_activities=False
    )
    jobs = Jobs(temporal_env.client, settings)
    async with running(build_workers(temporal_env.client, settings)):
        handle = await jobs.email({"to": ["a@example.com"], "template": "welcome"})  # no `name`: fails at once

        async def pending_alert_attempt() -> int:
            pending = (await handle.workflow.describe()).raw_description.pending_activities
            return max((a.attempt for a in pending if a.activity_type.name == "send_alert"), default=0)

        await eventually(pending_alert_attempt, lambda attempt: attempt >= 2)
        status = await jobs.status(handle.id)
        with pytest.raises(JobFailed):
            await asyncio.wait_for(handle.result(), 60)
    assert (status.state, status.attempts) == (JobState.RUNNING, 1), status.failure
    assert status.failure is None or status.failure.type != "AlertUndelivered", "the alert's failure is not the job's"


HIDDEN = ["\0", *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
"""NUL, and the bidirectional embeddings, overrides and isolates: text with them does not read as it is written."""


@pytest.mark.parametrize("char", HIDDEN)
def test_nul_and_bidi_controls_are_refused_in_text_people_read(char: str) -> None:
    refused = f"found U\\+{ord(char):04X}"
    with pytest.raises(ValidationError, match=refused):
        EmailJob.model_validate({**NOTE, "subject": f"Invoice{char}fdp.exe"})
    with pytest.raises(ValidationError, match=refused):
        EmailJob.model_validate({**NOTE, "attachments": [{"filename": f"invoice{char}fdp.exe", "content": "aGk="}]})
    with pytest.raises(ValidationError, match=refused):
        SmsJob.model_validate({"to": "+12025550143", "body": f"Your code: 12{char}34"})
    with pytest.raises(ValidationError, match=refused):
        BroadcastJob.model_validate({"source": "static:+12025550143", "message": {"channel": "sms", "body": char}})


def test_right_to_left_text_and_its_marks_stay_allowed() -> None:
    # Hebrew and Arabic with the marks they need (LRM, RLM, ALM): only embeddings, overrides and isolates go.
    for text in ("שלום \u200eABC\u200f", "مرحبا\u061c 42"):
        assert SmsJob.model_validate({"to": "+12025550143", "body": text}).body == text
        assert EmailJob.model_validate({**NOTE, "subject": text}).subject == text


async def test_a_bidi_override_is_refused_alike_by_client_cli_and_http(
    jobs: Jobs, api: ApiThread, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    sms = {"to": "+12025550143", "body": "Pay \u202e0001$ now"}
    email = {"to": ["a@example.com"], "subject": "s", "text": "t", "attachments": [
        {"filename": "invoice\u202efdp.exe", "content": "aGk="}]}  # fmt: skip
    for kind, job, field in (("sms", sms, "body"), ("email", email, "attachments.0.filename")):
        with pytest.raises(InvalidJobError, match=f"{field}.*found U\\+202E"):
            await jobs.enqueue(kind, job)
        cli = await conveyor(settings, "enqueue", kind, json.dumps(job))
        assert cli.code == 2 and field in cli.err and "U+202E" in cli.err and cli.out == "", cli
        async with api.client() as http:
            posted = await http.post(f"/jobs/{kind}", json=job)
        assert posted.status_code == 422 and "U+202E" in posted.json()["detail"], posted.text
    # A NUL cannot be a command-line argument: standard input is how a script would send one.
    with_nul = json.dumps({**sms, "body": "a\0b"}).encode()
    nul = await run(str(BIN / "conveyor"), "enqueue", "sms", "-", env=env_for(settings), stdin=with_nul)
    assert nul.code == 2 and "found U+0000" in nul.err, nul
    assert await started_on(temporal_env.client, [settings.task_queue, settings.sms_task_queue]) == set()
