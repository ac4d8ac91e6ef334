"""The SMS job end to end: a real dev server and worker, AWS SNS played by moto over HTTP, or the outbox file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.sms import SmsActivities
from activities.sms_providers import SnsProvider, classify
from conveyor import InvalidJobError, Jobs, JobState, Settings, SmsJob
from tests.cli import conveyor
from tests.conftest import settings_for
from tests.phones import sent_by_sns, sns_settings, unique_phone
from tests.smtp_server import SmtpServer
from worker.build import WORKFLOW_RUNNER, WORKFLOWS, build_workers
from worker.run import running


async def test_sms_is_delivered_by_sns_to_the_normalised_number(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, tmp_path: Path
) -> None:
    settings = sns_settings(temporal_env, smtp_server, tmp_path, moto_server)
    to = unique_phone()
    pretty = f"+1 ({to[2:5]}) {to[5:8]}-{to[8:]}"
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        handle = await jobs.sms(SmsJob(to=pretty, body="Your code is 1234", sender_id="Conveyor"))
        result = await handle.result()
    assert result.to == to and result.parts == 1 and result.provider == "sns"
    [sms] = sent_by_sns(moto_server, to)
    assert sms["message"] == "Your code is 1234" and sms["message_id"] == result.message_id


async def test_invalid_number_is_refused_before_enqueueing(jobs: Jobs, settings: Settings) -> None:
    with pytest.raises(InvalidJobError, match=r"to: .*international format"):
        await jobs.sms({"to": "202 555 0143", "body": "hi"})
    ran = await conveyor(settings, "send", "sms", "--to", "+1555", "--body", "hi")
    assert ran.code == 2
    assert ran.err.strip().splitlines() == ["error: invalid sms job: to: Value error, is not a possible phone number "
                                            "for its country (wrong length?)"]  # fmt: skip


def test_long_unicode_body_names_the_limit_and_the_character() -> None:
    with pytest.raises(ValueError, match=r"is 700 UCS-2 characters \(UCS-2 because of '✓'\), over the 670"):
        SmsJob(to="+12025550143", body="✓" * 700)
    assert SmsJob(to="+12025550143", body="a" * 1530).body  # 10 GSM-7 parts fit


async def test_throttled_send_is_retried_then_delivered_once(
    time_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, tmp_path: Path
) -> None:
    # moto never throttles, so the fault is injected at botocore's HTTP layer: the first two publishes get SNS's
    # real throttling reply (HTTP 400, code Throttling), which botocore parses and the provider classifies.
    settings = sns_settings(time_env, smtp_server, tmp_path, moto_server, search_attributes=False)
    provider = SnsProvider(settings.aws_config(moto_server))
    attempts: list[str] = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(request.url)
        if len(attempts) > 2:
            return None  # send it to moto for real
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
            b"<Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 400, {}, FakeRaw(body))

    provider.client.meta.events.register("before-send.sns.Publish", throttle)
    to = unique_phone()
    worker = Worker(
        time_env.client, task_queue=settings.sms_task_queue, workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
        activities=[SmsActivities(provider).send_sms],
    )  # fmt: skip
    async with worker:
        jobs = Jobs(time_env.client, settings)
        handle = await jobs.sms(SmsJob(to=to, body="retried"))
        await handle.result()
        status = await jobs.status(handle.id)
    assert len(attempts) == 3 and status.attempts == 3 and status.state is JobState.COMPLETED
    assert [m["message"] for m in sent_by_sns(moto_server, to)] == ["retried"]


class FakeRaw:
    """The raw body of a canned HTTP response, as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Publish"
    )


@pytest.mark.parametrize(
    ("error", "kind", "permanent"),
    [
        (client_error("InvalidParameter", "Invalid parameter: PhoneNumber Reason: +1 is not valid", 400),
         "PhoneNumberRejected", True),
        (client_error("OptedOut", "Phone number is opted out", 400), "RecipientOptedOut", True),
        (client_error("AuthorizationError", "not allowed", 403), "SmsRejected", True),
        (client_error("Throttling", "Rate exceeded", 400), "ProviderThrottled", False),
        (client_error("InternalError", "oops", 500), "ProviderUnavailable", False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "ProviderUnavailable", False),
    ],
)  # fmt: skip
def test_provider_errors_are_sorted_into_permanent_and_transient(error: Exception, kind: str, permanent: bool) -> None:
    classified = classify(error)
    assert type(classified).__name__ == kind and classified.permanent is permanent


async def test_rate_limit_holds_across_a_burst(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    rate, n = 4.0, 5
    settings = settings_for(temporal_env, smtp_server, tmp_path, sms_rate_per_second=rate)
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        handles = await asyncio.gather(*(jobs.sms(SmsJob(to=unique_phone(), body=f"burst {i}")) for i in range(n)))
        await asyncio.gather(*(h.result() for h in handles))
    lines = [json.loads(line) for line in settings.sms_outbox.read_text().splitlines()]
    sent = sorted(datetime.fromisoformat(m["sent_at"]) for m in lines)
    assert len(sent) == n
    # A lower bound (slow machines pass too). The server spaces its dispatches 1/rate apart; the times are the
    # provider's, taken a dispatch later, so each can land a few milliseconds early or late of its slot.
    assert (sent[-1] - sent[0]).total_seconds() >= (n - 1) / rate - 0.05


async def test_cli_sends_to_the_outbox_file(jobs: Jobs, settings: Settings) -> None:
    ran = await conveyor(settings, "send", "sms", "--to", "+44 7700 900123", "--body", "Hello from the CLI")
    assert ran.code == 0, ran.err
    job_id = ran.out.strip()
    result = await jobs.result(job_id)
    assert result.provider == "outbox"
    [line] = [json.loads(x) for x in settings.sms_outbox.read_text().splitlines()]
    assert line["to"] == "+447700900123" and line["body"] == "Hello from the CLI" and line["job_id"] == job_id
