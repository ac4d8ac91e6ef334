"""SMTP, S3 and SNS down while jobs arrive: no job fails, everything is delivered once they are back.

The outages are real (the servers stop listening; connections are refused). SMTP stays down for 60 s of
time-skipped time, long enough for five retries of the email row's backoff (1 s, 2 s, ... 16 s), which real
time would make a minute-long test; S3 and SNS (moto, stopped and started on the same port) stay down in real time
until every job has failed at least once, since reports retry after 5 s and SMS after 1 s.
"""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from temporalio.testing import WorkflowEnvironment

from activities.s3 import S3Storage
from conveyor import Jobs, JobState, ReportJob, SmsJob
from conveyor.client import JobHandle
from tests.conftest import settings_for
from tests.phones import sent_by_sns, unique_phones
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.mail import message_ids, note, recipients
from tests.smtp_server import SmtpServer, free_port
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running

SMTP_OUTAGE = timedelta(seconds=60)


async def failure_types(jobs: Jobs, handles: list[JobHandle]) -> list[str]:
    """The failure type of each job that is retrying now (one entry per retrying job)."""
    statuses = await asyncio.gather(*(jobs.status(h.id) for h in handles))
    return [s.failure.type for s in statuses if s.state is JobState.RETRYING and s.failure]


async def test_smtp_down_for_a_minute_fails_no_email(time_env: WorkflowEnvironment, tmp_path: Path, size: Size) -> None:
    smtp = SmtpServer(tmp_path)
    smtp.start()
    settings = settings_for(time_env, smtp, tmp_path, search_attributes=False)
    to = recipients("smtp-outage", size.outage_jobs)
    try:
        async with running(build_workers(time_env.client, settings)):
            jobs = Jobs(time_env.client, settings)
            smtp.stop()
            handles = [await jobs.email(note(address)) for address in to]
            seen = await eventually(lambda: failure_types(jobs, handles), lambda t: len(t) == len(to), size.timeout)
            await time_env.sleep(SMTP_OUTAGE)  # the retries up to the 6th (at 31 s) all fail
            smtp.start()
            # Real time from here: skipping over a running send would time out its heartbeat and send it twice.
            # The 7th attempts are due at 63 s, ~3 s from now.
            with time_env.auto_time_skipping_disabled():
                done = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), size.timeout)
            final = [await jobs.status(h.id) for h in handles]
            attempts = [s.attempts for s in final]
    finally:
        smtp.stop()
    mail = message_ids(smtp, to)
    figures.record(
        "SMTP down 60 s (time-skipped)", jobs=len(to), failed=sum(s.state is JobState.FAILED for s in final),
        lost=len(to) - len(mail),
        duplicated=sum(len(v) - 1 for v in mail.values()), max_attempts=max(attempts),
    )  # fmt: skip
    assert set(seen) == {"SmtpUnavailable"}
    assert all(r.accepted for r in done) and all(len(v) == 1 for v in mail.values()) and len(mail) == len(to)
    assert min(attempts) >= 7, "every email was retried through the whole outage"


async def test_s3_and_sns_down_fail_no_report_and_no_sms(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, size: Size
) -> None:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"outage-{uuid.uuid4().hex[:12]}"
    aws = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, **aws).create_bucket(Bucket=bucket)
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, storage="s3", s3_bucket=bucket, s3_endpoint_url=endpoint,
        sms_provider="sns", sns_endpoint_url=endpoint, sms_rate_per_second=1000, **aws,
    )  # fmt: skip
    source = tmp_path / "rows.csv"
    with source.open("w", newline="") as f:
        csv.writer(f).writerows([["n", "label"]] + [[str(i), f"row {i}"] for i in range(200)])
    numbers = unique_phones(size.outage_jobs)
    try:
        async with running(build_workers(temporal_env.client, settings)):
            jobs = Jobs(temporal_env.client, settings)
            moto.stop()
            down = time.monotonic()
            report = ReportJob(report="csv-file", params={"path": str(source)}, format="csv")
            reports = [await jobs.report(report) for _ in range(max(2, size.outage_jobs // 5))]
            texts = [await jobs.sms(SmsJob(to=n, body="sent after the outage")) for n in numbers]
            seen = await eventually(
                lambda: failure_types(jobs, reports + texts), lambda t: len(t) == len(reports + texts), size.timeout
            )
            moto.start()
            up = time.monotonic()
            stored = await asyncio.wait_for(asyncio.gather(*(h.result() for h in reports)), size.timeout)
            sent = await asyncio.wait_for(asyncio.gather(*(h.result() for h in texts)), size.timeout)
            final = [await jobs.status(h.id) for h in reports + texts]
    finally:
        moto.stop()
    storage = S3Storage(settings.aws_config(endpoint), bucket, settings.s3_prefix)
    moto.start()  # read back what was stored and sent
    try:
        readable = [len(await storage.read(r.key)) == r.size for r in stored]
        per_number = [len(sent_by_sns(endpoint, n)) for n in numbers]
    finally:
        moto.stop()
    figures.record(
        "S3 + SNS down (real)", reports=len(reports), sms=len(texts), down_s=round(up - down, 1),
        failed=sum(s.state is JobState.FAILED for s in final),
        lost=readable.count(False) + per_number.count(0), duplicated=sum(max(0, c - 1) for c in per_number),
    )  # fmt: skip
    assert sorted(set(seen)) == ["ProviderUnavailable", "StorageUnavailable"]
    assert all(readable) and len(sent) == len(numbers) and per_number == [1] * len(numbers)
