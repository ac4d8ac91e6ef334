"""What the README promises about a job's life: a key enqueues once whatever became of the job and whatever its
kind; a job fails after its policy's attempts; a running job can be cancelled; a terminated or timed-out job can be
retried. Real dev server, worker and SMTP server (the attempts test skips time on the time-skipping server)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import EmailJob, JobFailed, Jobs, JobState, ReportJob, Settings
from tests.phones import unique_phone
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from workflows.policies import POLICIES


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def note(to: str) -> EmailJob:
    return EmailJob(to=[to], subject="Note", text="hello")


def key(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def held_send(jobs: Jobs, smtp_server: SmtpServer, to: str) -> str:
    """An email job whose send is under way: the SMTP server holds it at RCPT (release with `holds[to].set()`)."""
    smtp_server.hold(to)
    handle = await jobs.email(note(to))

    async def attempts() -> int:
        return smtp_server.attempts(to)

    await eventually(attempts, lambda n: n >= 1, timeout=30)
    return handle.id


async def test_key_of_a_failed_or_cancelled_email_enqueues_nothing_more(jobs: Jobs, smtp_server: SmtpServer) -> None:
    gone = address("gone")
    smtp_server.fail(gone, 550)
    failed_key, cancelled_key = key("failed"), key("cancelled")
    failed = await jobs.email(note(gone), key=failed_key)
    with pytest.raises(JobFailed):
        await failed.result()
    later = note(address("later"))
    cancelled = await jobs.email(later, key=cancelled_key, delay=timedelta(days=1))
    await jobs.cancel(cancelled.id)
    await eventually(lambda: jobs.status(cancelled.id), lambda s: s.state is JobState.CANCELLED)

    again_failed = await jobs.email(note(gone), key=failed_key)
    again_cancelled = await jobs.email(later, key=cancelled_key)  # the same job again (other input: KeyReused)
    assert (again_failed.id, again_cancelled.id) == (failed.id, cancelled.id)
    assert (await jobs.status(failed.id)).state is JobState.FAILED, "handed back, not run again"
    assert (await jobs.status(cancelled.id)).state is JobState.CANCELLED
    assert smtp_server.attempts(gone) == 1, "the failed job was not sent again"


async def test_key_enqueues_an_sms_a_report_and_a_broadcast_once(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    phone, reader = unique_phone(), address("reader")
    source = tmp_path / "rows.csv"
    source.write_text("id,name\n1,Ada\n")
    listed = [address("listed"), address("listed")]
    sms_key, report_key, broadcast_key = key("sms"), key("report"), key("broadcast")
    report = ReportJob(report="csv-file", params={"path": str(source)}, format="csv", deliver_to=[reader])
    broadcast = {"source": {"name": "static", "arg": listed}, "message": {"template": "newsletter"}}
    for _ in range(2):  # the second round: each key hands back the first job, running or done
        sms = await jobs.sms({"to": phone, "body": "once"}, key=sms_key)
        rendered = await jobs.report(report, key=report_key)
        sent = await jobs.broadcast(broadcast, key=broadcast_key)
        assert (sms.id, rendered.id, sent.id) == (
            f"sms-{sms_key}",
            f"report-{report_key}",
            f"broadcast-{broadcast_key}",
        )
        await asyncio.gather(sms.result(), rendered.result(), sent.result())
    texts = [json.loads(line) for line in settings.sms_outbox.read_text().splitlines()]
    assert [t["to"] for t in texts].count(phone) == 1
    assert len(smtp_server.to(reader)) == 1
    assert [len(smtp_server.to(to)) for to in listed] == [1, 1]


async def test_email_fails_after_its_policys_attempts(time_jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address("down")
    smtp_server.fail(to, 451, times=1000)  # a transient refusal, every time: only the attempts run out
    handle = await time_jobs.email(note(to))
    with pytest.raises(JobFailed) as failed:
        await handle.result()  # about 18 minutes of backoff, skipped
    assert failed.value.type == "SmtpUnavailable"
    assert (await time_jobs.status(handle.id)).state is JobState.FAILED
    assert smtp_server.attempts(to) == POLICIES["email"].max_attempts


@pytest.mark.parametrize("shape", Shape)
async def test_running_job_is_cancelled(jobs: Jobs, smtp_server: SmtpServer, shape: Shape) -> None:
    """A job cancelled while running stops and is reported cancelled, not lost and not left running (celery#7529:
    a revoked running task keeps running or ends in no clear state)."""
    to = address("cancel-me")
    job_id = await held_send(jobs, smtp_server, to)
    running = await jobs.status(job_id)
    assert running.state is JobState.RUNNING and running.shape is shape
    await jobs.cancel(job_id)
    status = await eventually(lambda: jobs.status(job_id), lambda s: s.state is not JobState.RUNNING, timeout=30)
    smtp_server.handler.holds[to].set()
    assert status.state is JobState.CANCELLED


@pytest.mark.parametrize("shape", Shape)
async def test_terminated_job_is_retried_and_delivered_once(jobs: Jobs, smtp_server: SmtpServer, shape: Shape) -> None:
    to = address("terminated")
    job_id = await held_send(jobs, smtp_server, to)
    job = await jobs.locate(job_id)
    assert job.shape is shape
    await job.execution.terminate(reason="operator stopped it")
    assert (await jobs.status(job_id)).state is JobState.TERMINATED
    # Terminating a job does not reach into a send already under way: released, it still finishes.
    smtp_server.handler.holds[to].set()

    async def delivered() -> int:
        return len(smtp_server.to(to))

    await eventually(delivered, lambda n: n == 1)
    await jobs.retry(job_id)  # runs the job again from its start: a second send of the same message
    await jobs.result(job_id)
    assert (await jobs.status(job_id)).state is JobState.COMPLETED
    messages = smtp_server.to(to)
    assert len(messages) == 2 and len({m["Message-ID"] for m in messages}) == 1


async def test_timed_out_job_is_retried(
    temporal_env: WorkflowEnvironment, jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    # Conveyor sets no run time-out; a producer with its own Temporal client may. The send is held past it.
    to = address("timed-out")
    release = smtp_server.hold(to)
    job_id = f"email-{key('timeout')}"
    await temporal_env.client.start_workflow(
        "SendEmail", note(to), id=job_id, task_queue=settings.task_queue, run_timeout=timedelta(seconds=3)
    )
    status = await eventually(lambda: jobs.status(job_id), lambda s: s.state is JobState.TIMED_OUT, timeout=30)
    assert status.state is JobState.TIMED_OUT
    release.set()
    await jobs.retry(job_id)
    await eventually(lambda: jobs.status(job_id), lambda s: s.state is JobState.COMPLETED, timeout=30)
    # The first run's held send may finish too once released; a re-sent email is the same message.
    assert len({m["Message-ID"] for m in smtp_server.to(to)}) == 1
