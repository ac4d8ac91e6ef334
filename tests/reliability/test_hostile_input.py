"""Hostile input: bad jobs that get past the client (a `temporal` CLI or a Node producer sends raw JSON) fail for
good within seconds as `InvalidJob` or `TemplateError` — never a retry loop —, a render longer than the heartbeat
time-out texts nobody twice, and the API of `conveyor dev` answers `/healthz` while a hostile render runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from conveyor import JobFailed, Jobs, Settings
from tests.api_server import KEY, ApiThread
from tests.cli import run
from tests.conftest import TEMPORAL, settings_for
from tests.dev_stack import dev_env, dev_stack
from tests.reliability import figures
from tests.smtp_server import SmtpServer
from tests.started import started_besides
from tests.test_broadcast_sms import customers_csv, texted
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running
from workflows.policies import POLICIES

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(8000) %}{{ j }}{% endfor %}{% endfor %}"
"""The probe's template: ~21 s of rendering per recipient on the event loop before the render budget."""
SLOW = "{% for i in range(1000) %}{% set total = range(100000)|sum %}{% endfor %}Hi {{ name }}"
"""A render of about 2 s of CPU: over a 1 s heartbeat time-out, within every budget. Its test allows 60 s of wall
time, since load stretches a render: at a load of 7, one twice as long took 10 s, and a full run at a load of 10
pushed two of those over a 20 s budget."""
SLOW_SUMS = "{% for i in range(100000) %}{% set total = range(100000)|sum %}{% endfor %}"
"""A render that runs out of time (minutes of work), however the step and size limits are set."""

TO = ["a@example.com"]
RAW: dict[str, tuple[str, Any]] = {
    "subject with U+2028": (
        "SendEmail",
        {"to": TO, "subject": "Hi\u2028Bcc: x@example.com", "text": "t"},
    ),
    "subject with \\x85": ("SendEmail", {"to": TO, "subject": "Hi\x85there", "text": "t"}),
    "subject with \\x0b": ("SendEmail", {"to": TO, "subject": "Hi\x0bthere", "text": "t"}),
    "NUL in a storage key": (
        "SendEmail",
        {
            "to": ["a@example.com"],
            "subject": "s",
            "text": "t",
            "attachments": [{"filename": "a", "storage_key": "a\0b"}],
        },
    ),
    "base64 !!!": (
        "SendEmail",
        {"to": TO, "subject": "s", "text": "t", "attachments": [{"filename": "a", "content": "!!!"}]},
    ),
    "template name with a newline": ("SendEmail", {"to": TO, "template": "welcome\n"}),
    "context 900 deep": ("SendEmail", {"to": TO, "template": "welcome", "context": {}}),
    "hours = inf": ("GenerateReport", {"report": "jobs-summary", "params": {"hours": "inf"}}),
    "hours = 1e308": ("GenerateReport", {"report": "jobs-summary", "params": {"hours": "1e308"}}),
    "NUL in a csv-file path": ("GenerateReport", {"report": "csv-file", "params": {"path": "a\0b.csv"}}),
    "NUL in a csv: source": ("Broadcast", {"source": "csv:a\0b.csv", "message": {"template": "welcome"}}),
    "SMS body with include": (
        "Broadcast",
        {"source": "static:+12025550143", "message": {"channel": "sms", "body": "{% include 'x' %}"}},
    ),
    "JSON list": ("SendSms", [1, 2]),
    "subject with \\x0c": ("SendEmail", {"to": TO, "subject": "Hi\x0cthere", "text": "t"}),
    "subject with \\x1c": ("SendEmail", {"to": TO, "subject": "Hi\x1cthere", "text": "t"}),
    "multipart/mixed attachment": (
        "SendEmail",
        {
            "to": TO,
            "subject": "s",
            "text": "t",
            "attachments": [{"filename": "a", "content": "aGk=", "content_type": "multipart/mixed"}],
        },
    ),
    "SMS body {{ range(200000) }}": (
        "Broadcast",
        {"source": "static:+12025550143", "message": {"channel": "sms", "body": "{{ range(200000) }}"}},
    ),
    "SMS body {{ 1/zero }}": (
        "Broadcast",
        {"source": "static:+12025550143", "message": {"channel": "sms", "body": "{{ 1/zero }}"}},
    ),
}
"""Raw JSON started as it is: (workflow type, input)."""

EMAIL = json.dumps({"to": TO, "subject": "s", "text": "t"})
MALFORMED: dict[str, tuple[str, list[str], str]] = {
    "no input": ("SendEmail", [], "task_queue"),
    "two inputs": ("SendEmail", ["--input", EMAIL, "--input", EMAIL], "task_queue"),
    "binary/plain input": ("SendEmail", ["--input", EMAIL, "--input-meta", "encoding=binary/plain"], "task_queue"),
    "unknown encoding": ("SendEmail", ["--input", EMAIL, "--input-meta", "encoding=text/x-mine"], "task_queue"),
    "SendSms on the email queue": ("SendSms", ["--input", '{"to": "+12025550143", "body": "hi"}'], "task_queue"),
    "GenerateReport on the email queue": ("GenerateReport", ["--input", '{"report": "jobs-summary"}'], "task_queue"),
    "email Broadcast on the SMS queue": (
        "Broadcast",
        ["--input", '{"source": "static:a@example.com", "message": {"template": "welcome"}}'],
        "sms_task_queue",
    ),
}
"""Malformed starts, as the `temporal` CLI makes them: (workflow type, its input arguments, the settings' queue)."""


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


async def start_raw(
    settings: Settings, workflow: str, inputs: list[str], queue: str = "task_queue", command: str = "start"
) -> str:
    """Start `workflow` with `inputs` (the CLI's input arguments) on the settings' `queue` through the `temporal`
    CLI: no Conveyor code checks it."""
    job_id = f"raw-{uuid.uuid4().hex}"
    ran = await run(
        str(TEMPORAL), "workflow", command, "--address", settings.temporal_address, "--type", workflow,
        "--task-queue", getattr(settings, queue), "--workflow-id", job_id, *inputs,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    return job_id


def deep_welcome_event() -> list[str]:
    """A `user.created` event whose context nests past the limit, delivered by signal-with-start."""
    event = {"name": "user.created", "user_id": "deep", "email": "deep@example.com", "context": deep(40)}
    return ["--input", '{"user_id": "deep"}', "--signal-name", "event", "--signal-input", json.dumps(event)]


async def test_bad_input_past_the_edge_fails_on_its_first_attempt_never_a_retry_loop(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    templates = tmp_path / "templates" / "hostile"
    templates.mkdir(parents=True)
    (templates / "subject.txt").write_text("Hi")
    (templates / "body.txt").write_text(NESTED_LOOPS)
    settings = settings_for(temporal_env, smtp_server, tmp_path, templates_dir=tmp_path / "templates")
    jobs = Jobs(temporal_env.client, settings)
    started: dict[str, str] = {}
    async with running(build_workers(temporal_env.client, settings)):
        for case, (workflow, payload) in RAW.items():
            payload = {**payload, "context": deep(900)} if case == "context 900 deep" else payload
            started[case] = await start_raw(settings, workflow, ["--input", json.dumps(payload)])
        for case, (workflow, inputs, queue) in MALFORMED.items():
            started[case] = await start_raw(settings, workflow, inputs, queue)
        welcome = await start_raw(settings, "Welcome", deep_welcome_event(), command="signal-with-start")
        started["welcome event 40 deep"] = welcome
        started["csv:. (a directory)"] = (
            await jobs.broadcast({"source": "csv:.", "message": {"template": "welcome"}})
        ).id
        started["hostile named template"] = (await jobs.email({"to": TO, "template": "hostile"})).id

        async def outcome(case: str) -> tuple[str, str, float, int]:
            """How the job failed, how long after its start (the server's own times) and on which attempt."""
            job_id = started[case]
            with pytest.raises(JobFailed) as failed:
                await asyncio.wait_for(jobs.result(job_id), 30)
            status = await jobs.status(job_id)
            assert status.closed_at is not None
            return case, failed.value.type, (status.closed_at - status.created_at).total_seconds(), status.attempts

        outcomes = await asyncio.gather(*(outcome(case) for case in started))
    for case, kind, seconds, attempts in outcomes:  # one row each in the reliability table
        figures.record(f"bad input: {case}", failed_as=kind, enqueue_to_failure_s=round(seconds, 2), attempts=attempts)
    types = {case: kind for case, kind, _, _ in outcomes}
    assert types.pop("hostile named template") == "TemplateError"
    assert set(types.values()) == {"InvalidJob"}, types
    assert all(attempts <= 1 for *_, attempts in outcomes), "never retried"
    slowest = max(seconds for _, _, seconds, _ in outcomes)
    figures.record(
        "bad input past the edge", cases=len(outcomes), failed_for_good=len(outcomes),
        enqueue_to_failure_p50_s=round(statistics.median(s for _, _, s, _ in outcomes), 2),
        enqueue_to_failure_max_s=round(slowest, 2), attempts_max=max(a for *_, a in outcomes),
    )  # fmt: skip


async def test_render_longer_than_the_heartbeat_texts_each_phone_once(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = dataclasses.replace(POLICIES["broadcast-sms"], heartbeat_timeout=timedelta(seconds=1))
    monkeypatch.setitem(POLICIES, "broadcast-sms", short)
    settings = settings_for(temporal_env, smtp_server, tmp_path, sms_rate_per_second=1000, render_timeout_seconds=60)
    people = customers_csv(tmp_path / "slow.csv", 2)
    async with running(build_workers(temporal_env.client, settings)):
        began = time.monotonic()
        handle = await Jobs(temporal_env.client, settings).broadcast(
            {"source": f"csv:{tmp_path / 'slow.csv'}", "message": {"channel": "sms", "body": SLOW}}
        )
        result = await asyncio.wait_for(handle.result(), 300)
        seconds = time.monotonic() - began
    phones = {phone for _, phone in people}
    per_phone = Counter(texted(settings, phones))
    figures.record(
        "render longer than the heartbeat", recipients=len(phones), heartbeat_timeout_s=1,
        broadcast_s=round(seconds, 1), texts_per_recipient_max=max(per_phone.values(), default=0),
    )  # fmt: skip
    assert (result.sent, result.failed) == (2, 0)
    assert per_phone == dict.fromkeys(phones, 1)


async def test_healthz_answers_while_a_hostile_render_runs(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "home") | {"CONVEYOR_RENDER_TIMEOUT_SECONDS": "3"}
    async with dev_stack(env) as banner:
        [key] = re.findall(r"HTTP API     \S+  key (\S+)", banner)
        phones = ",".join(f"+1202555{n:04d}" for n in range(20))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}", timeout=10) as http:
            posted = await http.post(
                "/jobs/broadcast",
                json={"source": f"static:{phones}", "message": {"channel": "sms", "body": SLOW_SUMS}},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert posted.status_code == 202, posted.text
            job = f"/jobs/{posted.json()['id']}"
            auth = {"Authorization": f"Bearer {key}"}
            await eventually(lambda: http.get(job, headers=auth), lambda r: r.json().get("state") == "running", 30)
            latencies: list[float] = []
            answered: list[datetime] = []
            for _ in range(100):  # ~3 s, while the render uses its budget
                began = time.monotonic()
                assert (await http.get("/healthz")).status_code == 200
                latencies.append((time.monotonic() - began) * 1000)
                answered.append(datetime.now(UTC))
                await asyncio.sleep(0.02)  # noqa: sleep-ok (the probes' pace, not a wait for a result)
            closed = (await http.get(job, headers=auth)).json().get("closed_at")
    # While the job runs its render, the API keeps answering: a render on the API's event loop would hold every
    # probe until the render gave up, so (nearly) all would be answered after the job ended.
    end = datetime.fromisoformat(closed) if closed else datetime.now(UTC)
    during = sum(moment < end for moment in answered)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    figures.record(
        "/healthz during a hostile render", probes=len(latencies), p50_ms=round(statistics.median(latencies), 1),
        p99_ms=round(p99, 1), max_ms=round(latencies[-1], 1), answered_while_rendering=during,
    )  # fmt: skip
    # The figures are the target (p99 <= 100 ms, reported above, not asserted: speed belongs to the bench); the
    # test holds what a frozen API would break: the order of the answers and the render's end.
    assert during >= len(answered) // 2, f"{during} of {len(answered)} probes answered while the render ran"


async def test_hostile_api_requests_are_refused_and_start_nothing(
    api: ApiThread, jobs: Jobs, temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe's API items in one pass: a foreign workflow is 404 to every route, a key reused with another
    payload is 409 naming the job, a key in the query string is 400 and kept out of the access log, and the delay
    and priority caps are 422 — and of all these, only the one accepted request started a job."""
    caplog.set_level(logging.INFO)
    foreign = f"payroll-{uuid.uuid4().hex}"
    handle = await temporal_env.client.start_workflow("Payroll", id=foreign, task_queue=f"other-{uuid.uuid4().hex}")
    key = f"order-{uuid.uuid4().hex[:8]}"
    email = {"to": ["hostile-api@example.com"], "subject": "s", "text": "t"}
    async with api.client() as http:
        accepted = await http.post("/jobs/email", json=email, headers={"Idempotency-Key": key})
        assert accepted.status_code == 202, accepted.text
        refusals = {
            "GET a foreign workflow": (await http.get(f"/jobs/{foreign}"), 404),
            "cancel a foreign workflow": (await http.post(f"/jobs/{foreign}/cancel"), 404),
            "retry a foreign workflow": (await http.post(f"/jobs/{foreign}/retry"), 404),
            "key reused, other payload": (
                await http.post("/jobs/email", json={**email, "text": "other"}, headers={"Idempotency-Key": key}),
                409,
            ),
            "API key in the query string": (await http.get(f"/jobs?api_key={KEY}"), 400),
            "delay past 365 days": (await http.post("/jobs/email?delay=P366D", json=email), 422),
            "priority 9": (await http.post("/jobs/email?priority=9", json=email), 422),
            "priority 2.5": (await http.post("/jobs/email?priority=2.5", json=email), 422),
        }
    await handle.terminate()
    started = await started_besides(jobs, frozenset({f"email-{key}"}))
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    codes = {case: response.status_code for case, (response, _) in refusals.items()}
    expected_codes = {case: expected for case, (_, expected) in refusals.items()}
    figures.record(
        "hostile API requests", requests=len(refusals),
        refused_as_expected=sum(codes[case] == expected_codes[case] for case in codes),
        jobs_started_by_refused=len(started - {f"email-{key}"}), key_in_access_log=sum(KEY in a for a in access),
    )  # fmt: skip
    assert codes == expected_codes
    assert f"email-{key}" in refusals["key reused, other payload"][0].json()["detail"]
    assert started == {f"email-{key}"}
    assert access and not any(KEY in line for line in access)
