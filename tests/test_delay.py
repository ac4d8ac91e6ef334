"""Delayed jobs, under the time-skipping server: a day passes in an instant."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from conveyor import EmailJob, Jobs, JobState
from tests.smtp_server import SmtpServer


async def test_job_delayed_past_a_day_runs_exactly_once(
    time_env: WorkflowEnvironment, time_jobs: Jobs, smtp_server: SmtpServer
) -> None:
    """A job delayed past 24 h waits, then runs once, and never again however long after (celery#2599, celery#3270,
    celery#9882: a task whose ETA lies past Redis's visibility timeout is redelivered and runs several times).
    The workflow shape: the time-skipping server does not run standalone activities."""
    to = f"later-{uuid.uuid4().hex[:8]}@example.com"  # no other test's mail to this address
    handle = await time_jobs.email(EmailJob(to=[to], subject="Tomorrow", text="hi"), delay=timedelta(hours=25))
    status = await time_jobs.status(handle.id)
    assert status.state is JobState.SCHEDULED
    assert status.starts_at is not None and status.starts_at - status.created_at >= timedelta(hours=24)
    assert smtp_server.to(to) == []
    await handle.result()  # the test server skips the day while we wait
    assert len(smtp_server.to(to)) == 1
    await time_env.sleep(timedelta(days=3))  # many visibility timeouts' worth of time later
    done = await time_jobs.status(handle.id)
    assert done.state is JobState.COMPLETED and done.attempts == 1
    assert len(smtp_server.to(to)) == 1 and smtp_server.attempts(to) == 1
