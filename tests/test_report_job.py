"""The report job end to end: rendering read back from the file, storage on moto's S3 over HTTP, delivery by a
real SMTP server, progress and a worker killed mid-render on the real dev server."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

import tests.held_report  # noqa: F401  (registers the `held-rows` report in this process)
from activities.s3 import S3Storage
from activities.storage import LocalStorage
from contracts.kinds import Shape
from conveyor import EmailJob, InvalidJobError, JobFailed, Jobs, JobState, ReportJob, Settings
from tests.cli import conveyor, env_for, run
from tests.conftest import TEMPORAL, settings_for
from tests.smtp_server import SmtpServer
from worker.build import build_workers
from worker.run import running

ROOT = Path(__file__).parent.parent


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def people(n: int) -> list[list[str]]:
    return [["id", "name", "city"]] + [[str(i), f"Person {i}", f"City {i % 7}"] for i in range(n)]


def stored(settings: Settings, key: str) -> Path:
    return settings.reports_dir / key


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def test_pdf_report_has_every_row_the_header_on_every_page_and_page_numbers(
    jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "people.csv", people(130))
    handle = await jobs.report(ReportJob(report="csv-file", params={"path": str(source)}))
    result = await handle.result()

    pdf = PdfReader(stored(settings, result.key))
    pages = [" ".join(page.extract_text().split()) for page in pdf.pages]
    assert len(pages) == result.pages >= 3 and result.rows == 130
    for number, text in enumerate(pages, start=1):
        assert text.startswith("CSV file"), "the title tops every page"
        assert "id name city" in text, f"page {number} repeats the header"
        assert f"page {number} of {len(pages)}" in text
    assert f"Parameters: path={source}" in pages[0] and "Generated: " in pages[0]
    text = " ".join(pages)
    positions = [text.index(f"Person {i} ") for i in range(130)]
    assert positions == sorted(positions), "every row, in order"


async def test_csv_report_round_trips_the_rows(jobs: Jobs, settings: Settings, tmp_path: Path) -> None:
    rows = [["id", "note"], ["1", 'quotes " and, commas'], ["2", "line\nbreak"], ["3", "Zoë ✓"]]
    source = write_csv(tmp_path / "notes.csv", rows)
    result = await (
        await jobs.report({"report": "csv-file", "params": {"path": str(source)}, "format": "csv"})
    ).result()
    assert result.pages is None and result.rows == 3 and result.filename == "csv-file.csv"
    assert list(csv.reader(io.StringIO(stored(settings, result.key).read_text(encoding="utf-8")))) == rows


async def test_unknown_report_and_bad_params_are_refused_before_enqueueing(jobs: Jobs, settings: Settings) -> None:
    with pytest.raises(InvalidJobError, match=r"unknown report 'sales'; known: .*jobs-summary"):
        await jobs.report({"report": "sales"})
    ran = await conveyor(settings, "send", "report", "--report", "jobs-summary", "--param", "hours=soon")
    assert ran.code == 2
    assert ran.err.strip() == (
        "error: invalid report job: input: Value error, report 'jobs-summary': params.hours: "
        "Input should be a valid number, unable to parse string as a number"
    )


async def test_missing_csv_file_fails_at_once_naming_it(jobs: Jobs, tmp_path: Path) -> None:
    handle = await jobs.report(ReportJob(report="csv-file", params={"path": str(tmp_path / "nope.csv")}))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "ReportSourceError" and "nope.csv" in failed.value.message
    assert (await jobs.status(handle.id)).attempts == 1


@pytest.fixture
def s3_settings(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, moto_server: str, tmp_path: Path
) -> Settings:
    """Settings storing reports in a fresh bucket on moto's S3."""
    bucket = f"reports-{uuid.uuid4().hex[:12]}"
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, storage="s3", s3_bucket=bucket, s3_endpoint_url=moto_server,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server, aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    return settings


async def test_report_stored_on_s3_is_fetched_through_its_presigned_link(
    temporal_env: WorkflowEnvironment, s3_settings: Settings, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "people.csv", people(20))
    async with running(build_workers(temporal_env.client, s3_settings)):
        jobs = Jobs(temporal_env.client, s3_settings)
        result = await (await jobs.report(ReportJob(report="csv-file", params={"path": str(source)}))).result()
    assert result.url is not None and "X-Amz-Signature=" in result.url and "X-Amz-Expires=604800" in result.url
    with urllib.request.urlopen(result.url) as reply:  # noqa: ASYNC210  (a one-off fetch in a test)
        fetched = reply.read()
    storage = S3Storage(s3_settings.aws_config(s3_settings.s3_endpoint_url), s3_settings.s3_bucket, "reports")
    assert fetched.startswith(b"%PDF") and fetched == await storage.read(result.key) and len(fetched) == result.size


async def test_purge_deletes_only_reports_older_than_the_cutoff(s3_settings: Settings, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "x.csv", people(1))
    s3 = S3Storage(s3_settings.aws_config(s3_settings.s3_endpoint_url), s3_settings.s3_bucket, "reports")
    local = LocalStorage(tmp_path / "local")
    for storage in (s3, local):
        await storage.upload("job-1/x.csv", file, "text/csv")
        await storage.upload("job-2/x.csv", file, "text/csv")
        assert await storage.purge_older_than(datetime.now(UTC) - timedelta(hours=1)) == 0
        assert await storage.purge_older_than(datetime.now(UTC) + timedelta(seconds=5)) == 2
        with pytest.raises(Exception, match=r"no stored file 'job-1/x\.csv'"):
            await storage.read("job-1/x.csv")


async def test_small_report_is_emailed_as_an_attachment(
    jobs: Jobs, smtp_server: SmtpServer, settings: Settings, tmp_path: Path
) -> None:
    ops = address("ops")
    source = write_csv(tmp_path / "people.csv", people(10))
    result = await (
        await jobs.report(ReportJob(report="csv-file", params={"path": str(source)}, format="csv", deliver_to=[ops]))
    ).result()
    assert result.url is None and result.emailed_to == [ops]
    assert (await jobs.status(result.email_job_id)).state is JobState.COMPLETED
    [msg] = smtp_server.to(ops)
    assert msg["Subject"] == 'Your report "CSV file" is ready'
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "csv-file.csv"
    assert attachment.get_content().encode() == stored(settings, result.key).read_bytes()


async def test_large_report_is_emailed_as_a_link_once_even_when_rerun(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(temporal_env, smtp_server, tmp_path, report_attach_max_bytes=100)
    ops = address("ops")
    source = write_csv(tmp_path / "people.csv", people(50))
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        handle = await jobs.report(ReportJob(report="csv-file", params={"path": str(source)}, deliver_to=[ops]))
        result = await handle.result()
        # A reset runs the whole job again (the manual retry): the report is rendered again, the email not resent.
        reset = await run(
            str(TEMPORAL), "workflow", "reset", "--address", settings.temporal_address, "--workflow-id", handle.id,
            "--type", "FirstWorkflowTask", "--reason", "test: retried by hand",
        )  # fmt: skip
        assert reset.code == 0, reset.err
        rerun = await jobs.client.get_workflow_handle(handle.id).result()
        assert rerun["key"] == result.key and rerun["email_job_id"] == result.email_job_id
    [msg] = smtp_server.to(ops)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and result.url is not None and result.url in body.get_content()
    assert result.url == stored(settings, result.key).resolve().as_uri() and not list(msg.iter_attachments())


@pytest.mark.parametrize(("shape", "job_type"), [(Shape.ACTIVITY, "email"), (Shape.WORKFLOW, "SendEmail")])
async def test_jobs_summary_counts_jobs_by_state_and_lists_failures(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, shape: Shape, job_type: str
) -> None:
    settings = settings_for(  # a server of its own: exact counts
        own_temporal, smtp_server, tmp_path, standalone_activities=shape is Shape.ACTIVITY
    )
    async with running(build_workers(own_temporal.client, settings)):
        await jobs_summary_counts(Jobs(own_temporal.client, settings), settings, job_type)


async def jobs_summary_counts(jobs: Jobs, settings: Settings, job_type: str) -> None:
    ok = await jobs.email(EmailJob(to=[address("ok")], subject="Hi", text="ok"))
    await ok.result()
    bad = await jobs.email(EmailJob(to=[address("bad")], template="no-such-template"))
    with pytest.raises(JobFailed):
        await bad.result()
    result = await (await jobs.report({"report": "jobs-summary", "format": "csv", "params": {"hours": "1"}})).result()
    rows = list(csv.DictReader(stored(settings, result.key).open(encoding="utf-8")))
    counts = {(r["job type"], r["state"]): int(r["jobs"]) for r in rows if r["jobs"]}
    assert counts[(job_type, "Completed")] == 1 and counts[(job_type, "Failed")] == 1
    [failure] = [r for r in rows if r["failed job"] == bad.id]
    assert failure["failure"].startswith("TemplateNotFound: template 'no-such-template' not found")


async def wait_for_progress(jobs: Jobs, job_id: str, deadline: float = 30):
    """The job's status once its render has heartbeated progress past zero rows."""
    until = time.monotonic() + deadline
    while True:
        status = await jobs.status(job_id)
        if status.detail and not status.detail.startswith("0"):
            return status
        assert time.monotonic() < until, f"no progress within {deadline} s: {status}"
        # Polls the server's view of heartbeats, with a deadline: nothing to wait on for a heartbeat.
        await asyncio.sleep(0.1)  # noqa: sleep-ok


async def test_worker_killed_mid_render_the_job_still_completes(
    temporal_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    code = "import tests.held_report; from conveyor.cli import main; main(['worker'])"
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, env=env_for(settings), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        jobs = Jobs(temporal_env.client, settings)
        handle = await jobs.report(
            ReportJob(report="held-rows", params={"rows": "2000", "hold_at": "500", "release": str(release)})
        )
        await wait_for_progress(jobs, handle.id)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await worker.wait()
    release.touch()
    async with running(build_workers(temporal_env.client, settings)):  # a new worker takes over after the timeout
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.rows == 2000
    assert (await jobs.status(handle.id)).attempts == 2
