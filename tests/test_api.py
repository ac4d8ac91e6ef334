"""The HTTP API as a producer in another language uses it: a real uvicorn on loopback, httpx, the dev server,
a worker and the SMTP server. Enqueue, follow, retry, cancel, list; auth and bad input refused without a trace."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, Settings
from conveyor.http import guards
from tests.api_server import KEY, ApiThread
from tests.cli import BIN, env_for, run
from tests.conftest import settings_for
from tests.phones import unique_phone
from tests.readback import priority_of
from tests.smtp_server import SmtpServer, free_port
from tests.started import after_sentinel
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running


def address(name: str = "api") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def note(to: str) -> dict[str, Any]:
    return {"to": [to], "subject": "Note", "text": "hello"}


async def done(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """The job's status over HTTP once it has ended."""

    async def probe() -> dict[str, Any]:
        return (await http.get(f"/jobs/{job_id}")).json()

    return await eventually(probe, lambda s: s["state"] in ("completed", "failed", "cancelled"), timeout=30)


async def test_email_enqueued_over_http_is_sent_and_its_status_readable(
    jobs: Jobs, api: ApiThread, smtp_server: SmtpServer
) -> None:
    to = address()
    async with api.client() as http:
        posted = await http.post("/jobs/email", json={"to": [to], "template": "welcome", "context": {"name": "Ann"}})
        assert posted.status_code == 202, posted.text
        status = await done(http, posted.json()["id"])
    assert status["state"] == "completed" and status["kind"] == "email"
    [message] = smtp_server.to(to)
    assert message["Subject"] == "Welcome to Conveyor, Ann!"


async def test_same_idempotency_key_enqueues_once(jobs: Jobs, api: ApiThread, smtp_server: SmtpServer) -> None:
    to, key = address("once"), f"order-{uuid.uuid4().hex[:8]}"
    async with api.client() as http:
        first = await http.post("/jobs/email", json=note(to), headers={"Idempotency-Key": key})
        second = await http.post("/jobs/email", json=note(to), headers={"Idempotency-Key": key})
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"] == f"email-{key}"
        await done(http, f"email-{key}")
        again = await http.post("/jobs/email", json=note(to), headers={"Idempotency-Key": key})  # after it ended
    assert again.json()["id"] == f"email-{key}"
    assert len(smtp_server.to(to)) == 1


async def test_delay_and_priority_are_query_parameters(temporal_env: WorkflowEnvironment, api: ApiThread) -> None:
    jobs = Jobs(temporal_env.client, api.settings)
    async with api.client() as http:
        iso = await http.post("/jobs/sms?delay=PT1H&priority=1", json={"to": unique_phone(), "body": "later"})
        seconds = await http.post("/jobs/sms?delay=5400&priority=5", json={"to": unique_phone(), "body": "later"})
        assert iso.status_code == seconds.status_code == 202, iso.text
        for job_id, delay, priority in [(iso.json()["id"], 3600, 1), (seconds.json()["id"], 5400, 5)]:
            status = (await http.get(f"/jobs/{job_id}")).json()
            assert status["state"] == "scheduled" and status["kind"] == "sms"
            waits = datetime.fromisoformat(status["starts_at"]) - datetime.fromisoformat(status["created_at"])
            assert timedelta(seconds=delay - 60) < waits <= timedelta(seconds=delay), (job_id, waits)
            assert await priority_of(jobs, job_id) == priority
            assert (await http.post(f"/jobs/{job_id}/cancel")).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"}, {"Authorization": KEY},
     {"Authorization": f"Bearer {KEY[:-1]}"}, {"Authorization": f"Bearer {KEY}x"}],
    ids=["missing", "wrong", "basic-scheme", "no-scheme", "prefix", "longer"],
)  # fmt: skip
async def test_missing_or_wrong_key_is_401_without_detail(
    temporal_env: WorkflowEnvironment, settings: Settings, api: ApiThread, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as http:
        for method, path in [("POST", "/jobs/email"), ("GET", "/jobs/email-x"), ("GET", "/stats"),
                             ("POST", "/jobs/email-x/retry"), ("GET", "/jobs"), ("GET", "/jobs/failed")]:  # fmt: skip
            response = await http.request(method, path, json=note(address()))
            assert response.status_code == 401, (method, path)
            assert response.json() == {"detail": "missing or invalid API key"}
            assert response.headers["www-authenticate"] == "Bearer"
        assert (await http.get("/healthz")).status_code == 200  # open, for load balancers
    async with api.client() as http:
        assert (await http.get("/stats")).status_code == 200
        # A sentinel enqueued after the refusals: once it shows, anything they had enqueued would show too.
        sentinel = (await http.post("/jobs/email?delay=P1D", json=note(address("sentinel")))).json()["id"]
        assert await after_sentinel(temporal_env.client, settings, sentinel) == set()
        assert (await http.post(f"/jobs/{sentinel}/cancel")).status_code == 202


def test_key_check_compares_every_key_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A spy on hmac.compare_digest (no real part can show timing reliably on a shared 2-core machine): every key
    # is compared with the constant-time function, even after a match, so timing reveals neither key nor match.
    compared: list[bytes] = []
    real = guards.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(guards.hmac, "compare_digest", spy)
    keys = [SecretStr("first-key"), SecretStr("second-key"), SecretStr("third-key")]
    assert guards.key_matches("first-key", keys)
    assert compared == [b"first-key", b"second-key", b"third-key"]
    assert not guards.key_matches("first-ke", keys) and not guards.key_matches("", keys)


EMAIL = {"to": ["a@example.com"], "subject": "s", "text": "t"}
BAD_REQUESTS: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("/jobs/email", {"to": ["not-an-address-q7"], "subject": "s", "text": "t"}, {}, "body.to.0"),
    ("/jobs/email", {"to": ["a@example.com"]}, {}, "give 'template', or 'subject'"),
    ("/jobs/email", {**EMAIL, "bogus-field-q7": 1}, {}, "bogus-field-q7"),
    ("/jobs/sms", {"to": "12-not-a-number-q7", "body": "x"}, {}, "body.to"),
    ("/jobs/report", {"report": "no-such-report-q7"}, {}, "unknown report"),
    ("/jobs/email?priority=9", EMAIL, {}, "query.priority"),
    ("/jobs/email?delay=soon-q7", EMAIL, {}, "delay must be"),
    ("/jobs/email?delay=P999D", EMAIL, {}, "delay must be"),
    ("/jobs/email?delay=2³0", EMAIL, {}, "delay must be"),  # found by schemathesis: a 500 once (str.isdigit)
    ("/jobs/email", EMAIL, {"Idempotency-Key": "bad key q7"}, "header.Idempotency-Key"),
]


async def test_bad_input_is_422_naming_the_field_and_enqueues_nothing(
    temporal_env: WorkflowEnvironment, settings: Settings, api: ApiThread
) -> None:
    async with api.client() as http:
        for path, body, headers, named in BAD_REQUESTS:
            response = await http.post(path, json=body, headers=headers)
            assert response.status_code == 422, (path, body, response.text)
            detail = response.json()["detail"]
            assert named in detail, (named, detail)
            echoed = detail.replace("bogus-field-q7", "").replace("no-such-report-q7", "")  # names, not values
            assert "q7" not in echoed, detail
        not_json = await http.post("/jobs/email", content=b"{not json", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422 and "body" in not_json.json()["detail"]
        bad_state = await http.get("/jobs?state=exploded")
        assert bad_state.status_code == 422 and "query.state" in bad_state.json()["detail"]
        # A sentinel started after every refusal: once visibility shows it, it would show any job enqueued before.
        sentinel = await http.post("/jobs/email?delay=P1D", json=note(address("sentinel")))
        assert sentinel.status_code == 202
        marker = sentinel.json()["id"]
        assert await after_sentinel(temporal_env.client, settings, marker) == set(), "a refused request enqueued"
        await http.post(f"/jobs/{marker}/cancel")


async def test_a_json_body_is_read_whatever_content_type_curl_declared(api: ApiThread) -> None:
    """`curl -d '{...}'` declares a form (`application/x-www-form-urlencoded`); other clients say `text/plain` or
    nothing. The body is JSON to the API whatever the header says; one that is not JSON is a 422 naming the body."""
    body = json.dumps(note(address("curl"))).encode()
    async with api.client() as http:
        for declared in ("application/x-www-form-urlencoded", "text/plain; charset=utf-8", None, "application/json"):
            headers = {"Content-Type": declared} if declared else {}
            posted = await http.post("/jobs/email?delay=P1D", content=body, headers=headers)
            assert posted.status_code == 202, (declared, posted.text)
            assert (await http.post(f"/jobs/{posted.json()['id']}/cancel")).status_code == 202
        form = await http.post("/jobs/email", data={"to": "ann@example.com", "template": "welcome"})
        assert form.status_code == 422 and form.json()["detail"].startswith("invalid request: body"), form.text


async def test_oversized_body_is_413_and_enqueues_nothing(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    small = settings_for(temporal_env, smtp_server, tmp_path, api_max_body_bytes=1000)
    with ApiThread(small) as api:
        async with api.client() as http:
            big = {**note(address()), "text": "x" * 2000}
            response = await http.post("/jobs/email", json=big)
            assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(3):
                    yield b"x" * 600  # no Content-Length: a chunked upload is bounded too

            chunked = await http.post("/jobs/email", content=chunks(), headers={"Content-Type": "application/json"})
            assert chunked.status_code == 413
            marker = await http.post("/jobs/email?delay=P1D", json=note(address("sentinel")))
            assert marker.status_code == 202
    assert await after_sentinel(temporal_env.client, small, marker.json()["id"]) == set(), "a 413 enqueued"


async def test_retry_cancel_and_dead_letter_view_over_http(jobs: Jobs, api: ApiThread, smtp_server: SmtpServer) -> None:
    to = address("bounced")
    smtp_server.fail(to, 550)
    async with api.client() as http:
        job_id = (await http.post("/jobs/email", json=note(to))).json()["id"]
        failed = await done(http, job_id)
        assert failed["state"] == "failed" and failed["failure"]["type"] == "RecipientRejected"

        async def dead_letters() -> list[dict[str, Any]]:
            return (await http.get("/jobs/failed?kind=email")).json()

        rows = await eventually(dead_letters, lambda rows: any(r["id"] == job_id for r in rows))
        assert next(r for r in rows if r["id"] == job_id)["failure"]["type"] == "RecipientRejected"

        async def by_recipient() -> list[dict[str, Any]]:
            return (await http.get("/jobs", params={"kind": "email", "state": "failed", "recipient": to})).json()

        assert [r["id"] for r in await eventually(by_recipient, bool)] == [job_id]

        smtp_server.heal(to)
        retried = await http.post(f"/jobs/{job_id}/retry")
        assert retried.status_code == 200 and retried.json()["run_id"]
        assert (await done(http, job_id))["state"] == "completed"
        assert len(smtp_server.to(to)) == 1

        again = await http.post(f"/jobs/{job_id}/retry")
        assert again.status_code == 409 and "completed" in again.json()["detail"]
        cancelled = await http.post(f"/jobs/{job_id}/cancel")
        assert cancelled.status_code == 409 and "already ended" in cancelled.json()["detail"]
        assert (await http.get("/jobs/email-no-such-job")).status_code == 404
        assert (await http.post("/jobs/email-no-such-job/retry")).status_code == 404


async def test_stats_over_http_count_exactly_the_servers_runs(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(own_temporal, smtp_server, tmp_path)  # a server of its own: exact counts
    gone = address("gone")
    smtp_server.fail(gone, 550)
    async with running(build_workers(own_temporal.client, settings)):
        with ApiThread(settings) as api:
            async with api.client() as http:
                for to in (address("ok"), gone):
                    await done(http, (await http.post("/jobs/email", json=note(to))).json()["id"])
                stats = (await http.get("/stats")).json()
    email: Counter[str] = Counter()
    for states in stats["counts"]["email"].values():  # per task queue
        email.update(states)
    assert {state: n for state, n in email.items() if n} == {"completed": 1, "failed": 1}
    idle = {kind: list(queues) for kind, queues in stats["counts"].items() if kind != "email"}
    assert idle == {
        "sms": [settings.sms_task_queue],
        "webhook": [settings.task_queue],
        "report": [settings.reports_task_queue],
        "image": [settings.images_task_queue],
        "image_batch": [settings.images_task_queue],
        "broadcast": [settings.task_queue],
        "welcome": [settings.task_queue],
        "cleanup": [settings.task_queue],
    }, "a kind with no jobs yet still shows the queue its jobs start on; the failure watch is not counted"


async def test_healthz_says_whether_temporal_is_reachable(settings: Settings, api: ApiThread) -> None:
    async with api.client(key=None) as http:
        up = await http.get("/healthz")
    assert up.status_code == 200 and up.json() == {"temporal": "ok"}

    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}", "api_port": free_port()})
    with ApiThread(nowhere) as down_api:  # the API starts while Temporal is down, and says so
        async with down_api.client() as http:
            down = await http.get("/healthz")
            assert down.status_code == 503 and down.json() == {"temporal": "unreachable"}
            refused = await http.post("/jobs/email", json=note(address()))
            assert refused.status_code == 503 and refused.json() == {"detail": "Temporal is unreachable"}


async def test_conveyor_api_refuses_to_run_without_keys(settings: Settings) -> None:
    env = env_for(settings) | {"CONVEYOR_API_PORT": str(settings.api_port)}  # and no CONVEYOR_API_KEYS
    ran = await run(str(BIN / "conveyor"), "api", env=env)
    assert ran.code == 1
    assert ran.err.strip() == "error: set CONVEYOR_API_KEYS (comma-separated): the API does not run without keys"
