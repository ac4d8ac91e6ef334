"""The webhook job on the real dev server, delivering to a real HTTP receiver on loopback that verifies every
signature with `standardwebhooks`.

Standalone activities do not run on the time-skipping server, so retries are tested on the dev server with a
short schedule given to the worker (the policy row's own schedule is checked as data); a `Retry-After` of a
couple of seconds is honoured for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.webhook import WebhookActivities, next_delay, retry_after
from contracts.kinds import KINDS
from contracts.webhook import WebhookEndpoint
from conveyor import Jobs, Settings
from conveyor.client import validate
from conveyor.endpoints import EndpointSwitch
from conveyor.errors import EndpointDisabledError, InvalidJobError, JobFailed
from tests.cli import BIN, env_for, run
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer
from tests.webhook_receiver import Answer, Receiver, all_verified, new_secret
from worker.build import WORKFLOW_RUNNER, alert_channels
from worker.last_attempt import LastAttemptAlerts
from workflows.policies import POLICIES
from workflows.webhook_endpoint import WebhookEndpointDisabled

SHORT = (timedelta(milliseconds=50),)
"""The test workers' schedule: 50 ms between attempts, so retries take no time."""
SECRETS = [new_secret(1), new_secret(2)]


@pytest.fixture
def receiver() -> Any:
    with Receiver(SECRETS[:1]) as r:
        yield r


def worker(client: Client, settings: Settings, **options: Any) -> Worker:
    """A worker of the webhook job alone, on the settings' queue, with the short schedule."""
    activities = WebhookActivities(settings.endpoints(), SHORT, EndpointSwitch(client, settings.task_queue), **options)
    return Worker(
        client,
        task_queue=settings.task_queue,
        activities=[activities.webhook, alert_channels(settings).send_alert],
        workflows=[WebhookEndpointDisabled],
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=[LastAttemptAlerts(POLICIES["alert"])],
    )


@contextlib.asynccontextmanager
async def delivering(
    env: WorkflowEnvironment, smtp: SmtpServer, tmp: Path, endpoints: dict[str, WebhookEndpoint], **options: Any
) -> AsyncIterator[Jobs]:
    settings = settings_for(env, smtp, tmp, webhook_endpoints=endpoints, search_attributes=False)
    async with worker(env.client, settings, **options):
        yield Jobs(env.client, settings)


async def test_delivery_is_signed_and_verified(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"acme": receiver.endpoint("/acme")}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        handle = await jobs.webhook({"endpoint": "acme", "event_type": "invoice.paid", "payload": {"id": "in_1"}})
        result = await handle.result()
    [got] = receiver.at("/acme")
    assert got.verified_by == [0]
    assert got.headers["webhook-id"] == handle.id == result.webhook_id
    assert got.headers["content-type"] == "application/json"
    assert result.status == 200 and [a.attempt for a in result.attempts] == [1]


async def test_retried_delivery_keeps_its_webhook_id(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    busy = Answer(503, b"busy, try later")
    endpoints = {"flaky": receiver.endpoint("/flaky", busy, busy, Answer(200))}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        handle = await jobs.webhook({"endpoint": "flaky", "event_type": "invoice.paid", "payload": {"n": 1}})
        result = await handle.result()
    got = receiver.at("/flaky")
    assert len(got) == 3 and all_verified(got)
    assert {r.headers["webhook-id"] for r in got} == {handle.id}
    assert len({r.body for r in got}) == 1  # the same body every time; only the timestamp is the attempt's
    assert [(a.attempt, a.status, a.body) for a in result.attempts] == [
        (1, 503, "busy, try later"),
        (2, 503, "busy, try later"),
        (3, 200, "ok"),
    ]


async def test_rotated_secrets_both_verify(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    with Receiver(SECRETS) as both:
        endpoints = {"rotating": both.endpoint("/r", secrets=[SecretStr(s) for s in SECRETS])}
        async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
            await (await jobs.webhook({"endpoint": "rotating", "event_type": "a.b", "payload": {}})).result()
        [got] = both.at("/r")
    assert got.verified_by == [0, 1]  # a receiver holding either secret verifies it
    assert len(got.headers["webhook-signature"].split(" ")) == 2


async def test_unknown_or_unsubscribed_endpoint_is_refused_before_enqueue(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"picky": receiver.endpoint("/picky", events=["invoice.paid"])}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        with pytest.raises(InvalidJobError, match="no endpoint 'nope'"):
            await jobs.webhook({"endpoint": "nope", "event_type": "invoice.paid", "payload": {}})
        with pytest.raises(InvalidJobError, match="does not subscribe"):
            await jobs.webhook({"endpoint": "picky", "event_type": "user.created", "payload": {}})
    assert receiver.connections == 0


def test_policy_row_states_the_svix_schedule() -> None:
    row = POLICIES["webhook"]
    minutes = [d.total_seconds() / 60 for d in row.retry_schedule]
    assert minutes == [5 / 60, 5, 30, 120, 300, 600, 600]
    assert row.max_attempts == len(row.retry_schedule) + 1  # "immediately", then each wait once
    assert next_delay(row.retry_schedule, 1, None) == timedelta(seconds=5)
    assert next_delay(row.retry_schedule, 9, None) == timedelta(hours=10)
    assert next_delay(row.retry_schedule, 1, timedelta(seconds=120)) == timedelta(seconds=120)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after("Mon, 07 Dec 2026 12:05:00 GMT", now) == timedelta(minutes=5)
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now) == timedelta(0)
    assert retry_after("99999999999", now) == timedelta(hours=10)
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_secrets_never_show(receiver: Receiver) -> None:
    endpoint = receiver.endpoint("/x", headers={"Authorization": SecretStr("Bearer hunter2")})
    settings = Settings(webhook_endpoints={"x": endpoint})
    shown = repr(settings) + str(settings.model_dump()) + repr(endpoint)
    assert SECRETS[0] not in shown and "hunter2" not in shown and str(receiver.port) not in shown
    with pytest.raises(ValueError) as bad:
        WebhookEndpoint(url=SecretStr("http://h/x"), secrets=[SecretStr("whsec_hunter2-is-not-base64")])
    assert "hunter2" not in str(bad.value)


@pytest.mark.parametrize(
    ("url", "headers", "says"),
    [
        ("https://\u216b.example/hook", {}, "xn-- \\(punycode\\) form"),  # IDNA 2003 takes it, httpx's 2008 not
        ("https://hooks.example.com/hook", {"X-Tenant": "\u00e9t\u00e9"}, "printable ASCII"),
        ("https://hooks.example.com/hook", {"X-Tenant": "a\r\nX-Injected: 1"}, "printable ASCII"),
    ],
)
def test_what_a_delivery_cannot_send_is_refused_at_load(url: str, headers: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        WebhookEndpoint(
            url=SecretStr(url), secrets=[SecretStr(SECRETS[0])], headers={k: SecretStr(v) for k, v in headers.items()}
        )


def test_a_payload_nested_past_the_limit_is_refused_before_enqueue() -> None:
    payload: dict[str, Any] = {}
    for _ in range(100):  # the producer's encoder takes it; the worker's JSON decoder would not (found by the fuzz)
        payload = {"a": payload}
    with pytest.raises(InvalidJobError, match="nested more than 32 levels"):
        validate(KINDS["webhook"], {"endpoint": "acme", "event_type": "a.b", "payload": payload})


async def test_gone_endpoint_fails_at_once_and_is_disabled_for_everyone(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"gone": receiver.endpoint("/gone", Answer(410, b"no such hook"))}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        handle = await jobs.webhook({"endpoint": "gone", "event_type": "a.b", "payload": {}})
        with pytest.raises(JobFailed) as failed:
            await handle.result()
        assert failed.value.type == "EndpointGone"
        assert (await jobs.status(handle.id)).attempts == 1
        with pytest.raises(EndpointDisabledError, match="conveyor endpoints enable gone"):
            await jobs.webhook({"endpoint": "gone", "event_type": "a.b", "payload": {}})
    # A second worker (another process: nothing in memory shared) refuses a job queued for it before it was off.
    settings = settings_for(temporal_env, smtp_server, tmp_path, webhook_endpoints=endpoints, search_attributes=False)
    queued = await temporal_env.client.start_activity(
        "webhook",
        {"endpoint": "gone", "event_type": "a.b", "payload": {}},
        id=f"webhook-{uuid.uuid4().hex}",
        task_queue=settings.task_queue,
        **POLICIES["webhook"].activity_options(),
    )
    async with worker(temporal_env.client, settings):
        with pytest.raises(Exception) as refused:
            await queued.result()
    assert "EndpointDisabled" in repr(refused.value.__cause__)
    assert len(receiver.at("/gone")) == 1
    switch = EndpointSwitch(temporal_env.client, settings.task_queue)
    assert await switch.enable("gone") and await switch.disabled("gone") is None


@pytest.mark.parametrize(
    ("answer", "failure"),
    [(Answer(400, b"bad"), "WebhookRejected"), (Answer(302, headers={"Location": "/elsewhere"}), "WebhookRedirected")],
)
async def test_refusals_and_redirects_fail_at_once(
    temporal_env: WorkflowEnvironment,
    smtp_server: SmtpServer,
    tmp_path: Path,
    receiver: Receiver,
    answer: Answer,
    failure: str,
) -> None:
    endpoints = {"no": receiver.endpoint("/no", answer)}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        handle = await jobs.webhook({"endpoint": "no", "event_type": "a.b", "payload": {}})
        with pytest.raises(JobFailed) as failed:
            await handle.result()
        status = await jobs.status(handle.id)
    assert failed.value.type == failure and status.attempts == 1
    assert f"HTTP {answer.status}" in failed.value.message
    assert len(receiver.at("/no")) == 1 and receiver.at("/elsewhere") == []  # the redirect is never followed


async def test_silent_receiver_times_out_and_is_retried(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"slow": receiver.endpoint("/slow", Answer(hang=True), Answer(200), timeout_seconds=0.5)}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        result = await (await jobs.webhook({"endpoint": "slow", "event_type": "a.b", "payload": {}})).result()
    assert [(a.status, a.error) for a in result.attempts] == [(None, "TimedOut"), (200, None)]


async def test_huge_response_body_is_not_read(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"big": receiver.endpoint("/big", Answer(200, size=50_000_000))}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        result = await (await jobs.webhook({"endpoint": "big", "event_type": "a.b", "payload": {}})).result()
    assert result.attempts[0].body == "x" * 1024
    receiver.release.set()
    assert receiver.streamed < 50_000_000 // 4  # the worker closed the connection: the writes stopped


async def test_retry_after_is_honoured(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"busy": receiver.endpoint("/busy", Answer(429, headers={"Retry-After": "2"}), Answer(200))}
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        await (await jobs.webhook({"endpoint": "busy", "event_type": "a.b", "payload": {}})).result()
    first, second = receiver.at("/busy")
    assert second.at - first.at >= 2.0  # the schedule alone would have retried after 50 ms


async def test_internal_endpoint_fails_at_once_without_connecting(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoint = WebhookEndpoint(url=SecretStr(receiver.script("/in")), secrets=[SecretStr(SECRETS[0])])
    async with delivering(temporal_env, smtp_server, tmp_path, {"inside": endpoint}) as jobs:
        handle = await jobs.webhook({"endpoint": "inside", "event_type": "a.b", "payload": {}})
        with pytest.raises(JobFailed) as failed:
            await handle.result()
    assert failed.value.type == "AddressForbidden" and "127.0.0.1 (loopback)" in failed.value.message
    assert receiver.connections == 0


async def test_cli_sends_and_switches_endpoints(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {"acme": receiver.endpoint("/acme", events=["invoice.paid"]), "other": receiver.endpoint("/other")}
    settings = settings_for(temporal_env, smtp_server, tmp_path, webhook_endpoints=endpoints, search_attributes=False)
    env = env_for(settings) | {"CONVEYOR_WEBHOOK_ENDPOINTS": settings.as_env()["CONVEYOR_WEBHOOK_ENDPOINTS"]}
    disabled = await run(str(BIN / "conveyor"), "endpoints", "disable", "acme", env=env)
    assert disabled.code == 0, disabled.err
    send = ("send", "webhook", "--type", "invoice.paid", "--payload", '{"id": "in_1"}')
    refused = await run(str(BIN / "conveyor"), *send, "--endpoint", "acme", env=env)
    assert refused.code == 2 and "'acme' is disabled" in refused.err
    listed = json.loads((await run(str(BIN / "conveyor"), "endpoints", "list", "--json", env=env)).out)
    assert {r["endpoint"]: r["state"] for r in listed} == {"acme": "disabled", "other": "enabled"}
    assert SECRETS[0] not in json.dumps(listed) and str(receiver.port) not in json.dumps(listed)
    assert (await run(str(BIN / "conveyor"), "endpoints", "enable", "acme", env=env)).out.strip() == "acme enabled"
    async with worker(temporal_env.client, settings):
        fanned = await run(str(BIN / "conveyor"), *send, "--key", "evt-1", env=env)
        assert fanned.code == 0, fanned.err
        assert sorted(fanned.out.split()) == ["webhook-evt-1.acme", "webhook-evt-1.other"]
        assert [r.headers["webhook-id"] for r in await receiver.wait_for("/acme", 1)] == ["webhook-evt-1.acme"]
        assert len(await receiver.wait_for("/other", 1)) == 1


async def test_event_fans_out_and_a_dead_endpoint_holds_up_no_one(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, receiver: Receiver
) -> None:
    endpoints = {f"e{i}": receiver.endpoint(f"/e{i}", events=["order.shipped"]) for i in range(49)}
    # A dead endpoint that takes its connection and never answers: the worst kind, for whoever waits on it.
    endpoints["dead"] = receiver.endpoint("/dead", Answer(hang=True), events=["order.shipped"], timeout_seconds=120)
    endpoints["elsewhere"] = receiver.endpoint("/elsewhere", events=["user.created"])  # not subscribed
    async with delivering(temporal_env, smtp_server, tmp_path, endpoints) as jobs:
        handles = await jobs.webhook_event("order.shipped", {"order": "o_1"}, key="evt-7")
        ids = {h.id for h in handles if not isinstance(h, Exception)}
        assert ids == {f"webhook-evt-7.{name}" for name in endpoints if name != "elsewhere"}
        live = [h for h in handles if not isinstance(h, Exception) and not h.id.endswith(".dead")]
        delivered = await asyncio.gather(*(h.result() for h in live))
        assert len(delivered) == 49 and all(r.status == 200 for r in delivered)
        dead = await jobs.status("webhook-evt-7.dead")
        assert dead.state.value == "running" and dead.attempts == 1  # still on its first attempt
    assert receiver.at("/elsewhere") == [] and all_verified(receiver.received)
