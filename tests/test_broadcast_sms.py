"""SMS broadcasts end to end: a real dev server and workers (in-process, or a process killed on purpose), texts
read back from the outbox file or from AWS SNS played by moto over HTTP."""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.broadcast import recipient_key
from conveyor import InvalidJobError, Jobs, Settings
from tests.cli import conveyor, start_worker, stop_worker
from tests.conftest import settings_for
from tests.phones import sent_by_sns, sns_settings, unique_phones
from tests.smtp_server import SmtpServer
from tests.started import started_besides
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running


def customers_csv(path: Path, count: int) -> list[tuple[str, str]]:
    """A CSV of `count` new customers with `email`, `phone` and `name` columns; their (email, phone) pairs."""
    tag = uuid.uuid4().hex[:8]
    people = [(f"c{i}-{tag}@example.com", phone) for i, phone in enumerate(unique_phones(count))]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "phone", "name"])
        writer.writerows([email, phone, f"Reader {i}"] for i, (email, phone) in enumerate(people))
    return people


def outbox(settings: Settings) -> list[dict[str, Any]]:
    """Every text the outbox provider wrote, duplicates included."""
    path = settings.sms_outbox
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def texted(settings: Settings, phones: set[str]) -> list[str]:
    """The numbers among `phones` that got a text, once per text."""
    return [m["to"] for m in outbox(settings) if m["to"] in phones]


async def test_sms_broadcast_texts_each_phone_once_and_reports_bad_ones(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(temporal_env, smtp_server, tmp_path, sms_rate_per_second=1000)
    people = customers_csv(tmp_path / "customers.csv", 300)
    with (tmp_path / "customers.csv").open("a") as f:
        f.write("nophone@example.com,12345,Nobody\n")  # not a phone number
        f.write(f"long@example.com,+12025550199,{'x' * 1600}\n")  # this recipient's text is over 10 parts
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        handle = await jobs.broadcast(
            {"source": f"csv:{tmp_path / 'customers.csv'}", "continue_every": 120, "batch_size": 40,
             "message": {"channel": "sms", "body": "Hi {{ name }}, your {{ what }} shipped.", "sender_id": "Shop",
                         "context": {"what": "order"}}},
        )  # fmt: skip
        result = await handle.result()
        described = await handle.workflow.describe()

    assert (result.sent, result.failed) == (300, 2)
    reasons = {f.address: f.reason for f in result.failures}
    assert "must be a phone number in international format" in reasons["nophone@example.com"]
    assert "over the 1530 of 10 SMS parts" in reasons["long@example.com"]
    texts = {m["to"]: m for m in outbox(settings)}
    assert len(outbox(settings)) == 300 and set(texts) == {phone for _, phone in people}
    email, phone = people[7]
    assert texts[phone]["body"] == "Hi Reader 7, your order shipped." and texts[phone]["sender_id"] == "Shop"
    assert texts[phone]["job_id"] == recipient_key(handle.id, email), "each text carries its idempotency key"
    assert described.task_queue == settings.sms_task_queue, "SMS broadcasts run under the SMS queue's rate limit"
    first = temporal_env.client.get_workflow_handle(handle.id, run_id=handle.workflow.first_execution_run_id)
    assert (await first.describe()).status is WorkflowExecutionStatus.CONTINUED_AS_NEW, "history stays bounded"


async def test_sms_broadcast_goes_through_sns_at_the_provider_rate(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, tmp_path: Path
) -> None:
    rate, n = 10.0, 12
    settings = sns_settings(temporal_env, smtp_server, tmp_path, moto_server, sms_rate_per_second=rate)
    phones = unique_phones(n)
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        # Small batches, many in flight: the broadcast still sends one batch at a time, at the provider's rate.
        handle = await jobs.broadcast(
            {"source": {"name": "static", "arg": phones}, "batch_size": 2, "parallel_batches": 8,
             "message": {"channel": "sms", "body": "Sale starts now", "sender_id": "Shop"}},
        )  # fmt: skip
        started = datetime.now().astimezone()
        result = await handle.result()
        finished = datetime.now().astimezone()
    assert result.sent == n and result.failed == 0
    for phone in phones:
        [sms] = sent_by_sns(moto_server, phone)  # moto records no message attributes: sender id unchecked here
        assert sms["message"] == "Sale starts now"
    # A lower bound (slow machines pass too): n texts paced 1/rate apart take at least (n-1)/rate.
    assert (finished - started).total_seconds() >= (n - 1) / rate


async def test_killed_worker_mid_sms_broadcast_still_texts_every_phone(
    settings: Settings, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Every phone gets its text; a kill may re-send at most one batch (an SMS broadcast runs one batch at a time:
    the provider's rate is per queue), the texts sent after the batch's last heartbeat that reached the server."""
    phones_n, batch_size = 100, 10
    people = customers_csv(tmp_path / "customers.csv", phones_n)
    phones = {phone for _, phone in people}
    env_settings = settings.model_copy(update={"sms_rate_per_second": 1000.0})
    jobs = Jobs(temporal_env.client, env_settings)
    worker = await start_worker(env_settings)
    try:
        handle = await jobs.broadcast(
            {"source": f"csv:{tmp_path / 'customers.csv'}", "batch_size": batch_size,
             "message": {"channel": "sms", "body": "Hi {{ name }}"}},
        )  # fmt: skip
        await eventually(lambda: _count(env_settings, phones), lambda n: n >= phones_n // 4, timeout=60)
        await stop_worker(worker, kill=True)
        assert len(set(texted(env_settings, phones))) < phones_n, "the kill came mid-broadcast"
        worker = await start_worker(env_settings)
        result = await handle.result()
    finally:
        await stop_worker(worker)

    sent = Counter(texted(env_settings, phones))
    assert result.sent == phones_n and set(sent) == phones, "every phone got its text"
    copies = sum(sent.values()) - phones_n
    assert copies <= batch_size, f"{copies} texts sent twice: more than the one batch in flight could re-send"


async def test_sms_broadcast_started_on_the_email_queue_fails_at_once(
    jobs: Jobs, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # A producer in another language that starts it on the default queue gets a typed failure naming the right
    # queue, not a batch retried for minutes that no worker there can run.
    job = {"source": "static:+12025550143", "message": {"channel": "sms", "body": "hi"}}
    handle = await temporal_env.client.start_workflow(
        "Broadcast", job, id=f"broadcast-{uuid.uuid4()}", task_queue=settings.task_queue
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidJob"
    assert f"start it on '{settings.sms_task_queue}'" in cause.message and outbox(settings) == []


async def _count(settings: Settings, phones: set[str]) -> int:
    return len(texted(settings, phones))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"channel": "sms", "template": "newsletter", "body": "hi"}, "an SMS broadcast has a body, not a template"),
        ({"channel": "sms"}, "an SMS broadcast needs a body"),
        ({"channel": "sms", "body": "Hi {{ name "}, "template syntax error on line 1"),
        ({"channel": "sms", "body": "hi", "sender_id": "no sender"}, "sender_id: String should match pattern"),
        ({"template": "newsletter", "body": "hi"}, "body and sender_id are for SMS broadcasts"),
        ({}, "an email broadcast needs a template"),
    ],
)
async def test_bad_sms_broadcast_is_refused_before_enqueueing(
    jobs: Jobs, temporal_env: WorkflowEnvironment, settings: Settings, message: dict[str, Any], error: str
) -> None:
    with pytest.raises(InvalidJobError, match=error):
        await jobs.broadcast({"source": "static:+12025550143", "message": message}, key=f"bad-{uuid.uuid4()}")
    assert await started_besides(jobs) == set()


async def test_cli_sms_broadcast_to_a_static_list(jobs: Jobs, settings: Settings) -> None:
    ran = await conveyor(
        settings, "broadcast", "--source", "static:+447700900123,+447700900124", "--sms", "Hello {{ who }}",
        "--var", "who=CLI", "--sender-id", "Conveyor",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    result = await jobs.result(ran.out.strip())
    assert result.sent == 2
    assert sorted((m["to"], m["body"]) for m in outbox(settings)) == [
        ("+447700900123", "Hello CLI"), ("+447700900124", "Hello CLI"),
    ]  # fmt: skip
    refused = await conveyor(settings, "broadcast", "--source", "static:+447700900123", "--sms", "hi {{")
    assert refused.code == 2 and "template syntax error" in refused.err
