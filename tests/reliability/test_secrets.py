"""Secrets stay secret: jobs run with an SMTP password, an AWS secret key and an alert webhook URL carrying a
token, and none of them appears in any log line (the test's own and the worker's), any workflow history, or any
`conveyor status` / `conveyor failed` output — including for jobs that failed or were retried.

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

from conveyor import JobFailed, Jobs, ReportJob, SmsJob
from conveyor.cli.app import app
from conveyor.client import JobHandle
from tests.conftest import settings_for
from tests.reliability import figures
from tests.reliability.mail import note, recipients
from tests.reliability.processes import settings_env, worker_process
from tests.smtp_server import PASSWORD, SmtpServer
from tests.test_sms_job import number
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
        sms_provider="sns", sns_endpoint_url=moto_server, ops_email=ops, alert_webhook_url=hook, **aws,
    )  # fmt: skip
    smtp_server.fail(flaky, 451, times=1)
    smtp_server.fail(gone, 550)
    jobs = Jobs(temporal_env.client, settings)
    async with worker_process(settings, tmp_path / "worker.log") as worker:
        handles: list[JobHandle] = [
            await jobs.email(note(ok)),
            await jobs.email(note(flaky)),
            await jobs.email(note(gone)),
            await jobs.sms(SmsJob(to=number(), body="secret-free")),
            await jobs.report(ReportJob(report="jobs-summary", params={"hours": "1"}, deliver_to=[reader])),
        ]
        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles), return_exceptions=True), 60)
        await eventually(lambda: _posted(webhook, handles[2].id), bool)
    assert [type(o).__name__ for o in outcomes].count("JobFailed") == 1 and isinstance(outcomes[2], JobFailed)
    assert len(smtp_server.to(flaky)) == 1 and len(smtp_server.to(reader)) == 1  # retried; delivered by link

    ids = [h.id for h in handles] + [f"email-{handles[4].id}"]  # the report's delivery email is a job too
    histories = [(await jobs.client.get_workflow_handle(i).fetch_history()).to_json() for i in ids]
    env = settings_env(settings)
    commands = (
        [["status", i] for i in ids]
        + [["status", "--json", i] for i in ids]
        + [["failed", "--kind", "email"], ["failed", "--json"]]
    )
    outputs = [await asyncio.to_thread(_cli, c, env) for c in commands]
    logs = [worker.log.read_text(errors="replace")] + [r.getMessage() for r in caplog.records if r.name != "mail.log"]
    corpus = {"logs": logs, "histories": histories, "status": outputs}
    secrets = [PASSWORD, aws_secret, token, hook.get_secret_value()]
    leaks = [(where, s[:12]) for where, texts in corpus.items() for t in texts for s in secrets if s in t]
    figures.record(
        "secrets", secrets=len(secrets), log_bytes=sum(map(len, logs)), histories=len(histories),
        status_outputs=len(outputs), leaks=len(leaks),
    )  # fmt: skip
    assert leaks == []
    assert any(gone in o and "RecipientRejected" in o for o in outputs), "the outputs searched are the real ones"


async def _posted(webhook: Webhook, job_id: str) -> bool:
    return any(p["job_id"] == job_id for p in webhook.posts)


def _cli(args: list[str], env: dict[str, str]) -> str:
    ran = CliRunner().invoke(app, args, env=env)
    assert ran.exit_code == 0, ran.output
    return ran.output
