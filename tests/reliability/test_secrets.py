"""Secrets stay secret: jobs run with an SMTP password, an AWS secret key and an alert webhook URL carrying a
token, and none of them appears in any log line (the test's own and the worker's, both at DEBUG level, tracebacks
included), any workflow history, any `conveyor status` / `conveyor failed` output, or any HTTP API response —
including for jobs that failed or were retried.

(A Temporal API key is not exercised: it implies TLS, which the dev server does not speak.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from conveyor import JobFailed, Jobs, ReportJob, Settings, SmsJob
from conveyor.cli.app import app
from conveyor.client import JobHandle
from tests.api_server import ApiThread
from tests.cli import BIN, run
from tests.conftest import settings_for
from tests.phones import unique_phone
from tests.readback import record_of
from tests.reliability import figures
from tests.reliability.mail import note, recipients
from tests.reliability.processes import settings_env, worker_process
from tests.smtp_server import PASSWORD, SmtpServer
from tests.waiting import eventually
from tests.webhook import Webhook


async def test_no_secret_in_logs_histories_or_status(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, webhook: Webhook,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    aws_secret, token = f"aws-secret-{uuid.uuid4().hex}", f"hook-token-{uuid.uuid4().hex}"
    hook = SecretStr(webhook.url.get_secret_value().replace("XXXX", token))
    bucket = f"secrets-{uuid.uuid4().hex[:12]}"
    aws = {"aws_access_key_id": "AKIDSECRETSTEST", "aws_secret_access_key": aws_secret}
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server, **aws).create_bucket(Bucket=bucket)
    [ops, ok, flaky, gone, reader] = recipients("secrets", 5)
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_server,
        sms_provider="sns", sns_endpoint_url=moto_server, ops_email=ops, alert_webhook_url=hook, log_level="DEBUG",
        **aws,
    )  # fmt: skip
    smtp_server.fail(flaky, 451, times=1)
    smtp_server.fail(gone, 550)
    jobs = Jobs(temporal_env.client, settings)
    async with worker_process(settings, tmp_path / "worker.log") as worker:
        handles: list[JobHandle] = [
            await jobs.email(note(ok)),
            await jobs.email(note(flaky)),
            await jobs.email(note(gone)),
            await jobs.sms(SmsJob(to=unique_phone(), body="secret-free")),
            await jobs.report(ReportJob(report="jobs-summary", params={"hours": "1"}, deliver_to=[reader])),
        ]
        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles), return_exceptions=True), 60)
        await eventually(lambda: _posted(webhook, handles[2].id), bool)
    assert [type(o).__name__ for o in outcomes].count("JobFailed") == 1 and isinstance(outcomes[2], JobFailed)
    assert len(smtp_server.to(flaky)) == 1 and len(smtp_server.to(reader)) == 1  # retried; delivered by link

    ids = [h.id for h in handles] + [f"email-{handles[4].id}"]  # the report's delivery email is a job too
    histories = [await record_of(jobs, i) for i in ids]  # of either shape: a history or a description
    env = settings_env(settings)
    commands = (
        [["status", i] for i in ids]
        + [["status", "--json", i] for i in ids]
        + [["failed", "--kind", "email"], ["failed", "--json"]]
    )
    outputs = [await asyncio.to_thread(_cli, c, env) for c in commands]
    with ApiThread(settings) as api:
        async with api.client() as http:
            paths = [f"/jobs/{i}" for i in ids] + ["/jobs/failed", "/jobs/failed?kind=email", "/stats"]
            responses = [(await http.get(path)).text for path in paths]
    # Formatted as a handler would (traceback and stack included), not just the message.
    full = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = [worker.log.read_text(errors="replace")] + [full.format(r) for r in caplog.records if r.name != "mail.log"]
    corpus = {"logs": logs, "histories": histories, "status": outputs, "api": responses}
    secrets = [PASSWORD, aws_secret, token, hook.get_secret_value()]
    leaks = [(where, s[:12]) for where, texts in corpus.items() for t in texts for s in secrets if s in t]
    tracebacks = sum(text.count("Traceback (most recent call last)") for text in logs)
    debug_lines = sum(text.count(" DEBUG ") for text in logs)
    figures.record(
        "secrets", secrets=len(secrets), log_bytes=sum(map(len, logs)), debug_lines=debug_lines,
        tracebacks=tracebacks, histories=len(histories), status_outputs=len(outputs), api_responses=len(responses),
        leaks=len(leaks),
    )  # fmt: skip
    assert leaks == []
    assert any(gone in o and "RecipientRejected" in o for o in outputs), "the outputs searched are the real ones"
    assert any("RecipientRejected" in r for r in responses), "the API responses searched are the real ones"
    assert debug_lines and tracebacks, "the logs searched include DEBUG lines and tracebacks"


async def _posted(webhook: Webhook, job_id: str) -> bool:
    return any(p["job_id"] == job_id for p in webhook.posts)


def _cli(args: list[str], env: dict[str, str]) -> str:
    ran = CliRunner().invoke(app, args, env=env)
    assert ran.exit_code == 0, ran.output
    return ran.output


async def test_an_invalid_alert_webhook_url_stops_the_worker_at_start_and_is_never_printed(
    settings: Settings,
) -> None:
    """The probe's leak: a webhook URL without a scheme made every alert fail with urllib's error quoting it (into
    histories and logs). Now the worker refuses the setting when it starts, naming the variable, never the URL."""
    token = f"hook-token-{uuid.uuid4().hex}"
    bad = [
        f"hooks.example.com/services/{token}",  # no scheme
        f"file:///etc/{token}",  # a scheme urllib would open
        f"http://[::1/{token}",  # does not parse
        f"https:///{token}",  # no host
    ]
    refused = 0
    for url in bad:
        env = settings_env(settings, CONVEYOR_ALERT_WEBHOOK_URL=url)
        ran = await run(str(BIN / "conveyor"), "worker", env=env, timeout=30)
        assert ran.code != 0, (url, ran)
        assert "CONVEYOR_ALERT_WEBHOOK_URL" in ran.out + ran.err or "alert_webhook_url" in ran.out + ran.err
        assert token not in ran.out + ran.err
        refused += 1
    figures.record("invalid alert webhook URL", urls=len(bad), refused_at_start=refused, leaks=0)
