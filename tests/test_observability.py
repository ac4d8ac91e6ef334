"""What an operator sees: Prometheus metrics (the SDK's and Conveyor's) after real jobs, log lines naming their
job, no secret in any log line or workflow history, and traces linking a producer's span to the activity."""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import EmailJob, JobFailed, Jobs, Settings, SmsJob
from conveyor.connection import connect
from conveyor.logs import formatter
from conveyor.ports import PortBusy
from conveyor.settings import LogFormat
from conveyor.telemetry import metrics_runtime
from tests.api_server import KEY, ApiThread
from tests.readback import record_of
from tests.smtp_server import PASSWORD, SmtpServer, free_port
from worker.build import build_workers
from worker.run import running


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def scrape(port: int) -> dict[str, float]:
    """`{'name{labels}': value}` from the endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line and line[0] != "#"}


def total(samples: dict[str, float], name: str, *labels: str) -> float:
    """Sum of `name`'s samples whose labels include every one of `labels` (`kind="email"`)."""
    return sum(v for k, v in samples.items() if k.split("{")[0] == name and all(lb in k for lb in labels))


@pytest.mark.parametrize("shape", Shape)
async def test_metrics_endpoint_serves_sdk_and_conveyor_metrics_after_jobs(
    settings: Settings, smtp_server: SmtpServer, shape: Shape
) -> None:
    settings = settings.model_copy(update={"metrics_port": free_port()})
    client = await connect(settings, metrics_runtime(settings))
    gone = address("metrics-gone")
    smtp_server.fail(gone, 550)
    async with running(build_workers(client, settings)):
        jobs = Jobs(client, settings)
        await (await jobs.email(EmailJob(to=[address("metrics")], subject="s", text="t"))).result()
        await (await jobs.sms(SmsJob(to="+15555550100", body="hi"))).result()
        with pytest.raises(JobFailed):
            await (await jobs.email(EmailJob(to=[gone], subject="s", text="t"))).result()
        samples = scrape(settings.metrics_port)
    queue = f'task_queue="{settings.task_queue}"'
    assert total(samples, "conveyor_jobs_started", 'kind="email"', queue) == 2
    assert total(samples, "conveyor_jobs_succeeded", 'kind="email"', queue) == 1
    assert total(samples, "conveyor_jobs_failed", 'kind="email"', 'failure_type="RecipientRejected"') == 1
    assert total(samples, "conveyor_jobs_succeeded", 'kind="sms"') == 1
    assert total(samples, "conveyor_send_latency_count", 'provider="smtp"', 'outcome="ok"', queue) == 1
    assert total(samples, "conveyor_send_latency_count", 'provider="smtp"', 'outcome="error"', queue) == 1
    assert total(samples, "conveyor_send_latency_count", 'provider="outbox"', 'outcome="ok"') == 1
    # The SDK's own, on the same endpoint: the job's activity in either shape, its workflow in the workflow one.
    step = 'activity_type="email"' if shape is Shape.ACTIVITY else 'activity_type="send_email"'
    assert total(samples, "temporal_activity_execution_latency_count", step) == 2
    assert total(samples, "temporal_workflow_completed", 'workflow_type="SendEmail"') == (shape is Shape.WORKFLOW)


async def test_metrics_port_taken_is_one_line_naming_the_setting(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortBusy) as busy:
            metrics_runtime(settings.model_copy(update={"metrics_port": port}))
    assert str(busy.value) == f"port {port} on 127.0.0.1 is in use; set CONVEYOR_METRICS_PORT to use another"


@pytest.fixture
def captured_logs() -> Iterator[dict[LogFormat, io.StringIO]]:
    """Every log line of this process at DEBUG, in both formats, while the test runs."""
    streams = {fmt: io.StringIO() for fmt in LogFormat}
    handlers = []
    for fmt, stream in streams.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter(fmt))
        handlers.append(handler)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for h in handlers:
        root.addHandler(h)
    try:
        yield streams
    finally:
        for h in handlers:
            root.removeHandler(h)
        root.setLevel(level)


@pytest.mark.parametrize("shape", Shape)
async def test_logs_name_the_job_and_never_hold_a_secret(
    temporal_env: WorkflowEnvironment,
    jobs: Jobs,
    api: ApiThread,
    smtp_server: SmtpServer,
    captured_logs: dict[LogFormat, io.StringIO],
    shape: Shape,
) -> None:
    ok, gone = address("logged"), address("logged-gone")
    smtp_server.fail(gone, 550)
    ids = []
    async with api.client() as http:
        for to in (ok, gone):
            ids.append((await http.post("/jobs/email", json={"to": [to], "subject": "s", "text": "t"})).json()["id"])
        assert (await http.get("/stats", headers={"Authorization": "Bearer wrong"})).status_code == 401
    await jobs.result(ids[0])
    with pytest.raises(JobFailed):
        await jobs.result(ids[1])

    text, lines = captured_logs[LogFormat.TEXT].getvalue(), captured_logs[LogFormat.JSON].getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    failed_job = [e for e in entries if e.get("job_id") == ids[1]]
    assert failed_job, "the failed job was logged with its job id"
    assert {(e["kind"], e["attempt"]) for e in failed_job} == {("email", 1)}
    assert f"[job={ids[1]} kind=email attempt=1]" in text
    assert {(await jobs.locate(i)).shape for i in ids} == {shape}
    records = [await record_of(jobs, i) for i in ids]
    for secret in (PASSWORD, KEY):
        assert secret not in text and secret not in "\n".join(lines)
        assert all(secret not in r for r in records)


@pytest.mark.parametrize(
    ("shape", "start", "run"),
    [(Shape.ACTIVITY, "StartActivity:email", "RunActivity:email"),
     (Shape.WORKFLOW, "StartWorkflow:SendEmail", "RunActivity:send_email")],
)  # fmt: skip
async def test_traces_link_the_producer_span_to_the_activity(
    settings: Settings, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, shape: Shape, start: str, run: str
) -> None:
    # The application's own tracer provider, exporting to memory (an OTLP collector is not a real part we can run
    # here); Conveyor uses it instead of its own because one is set.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    traced = settings.model_copy(update={"otlp_endpoint": "http://127.0.0.1:1/v1/traces"})
    client = await connect(traced)
    async with running(build_workers(client, traced)):
        with provider.get_tracer("shop").start_as_current_span("checkout") as producer:
            handle = await Jobs(client, traced).email(EmailJob(to=[address("traced")], subject="s", text="t"))
        await handle.result()
    assert handle.shape is shape
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans[run].context.trace_id == producer.get_span_context().trace_id
    parent = spans[start].parent
    assert parent is not None and parent.span_id == producer.get_span_context().span_id
