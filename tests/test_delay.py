"""Delayed jobs, under the time-skipping server: a day passes in an instant."""

from __future__ import annotations

import uuid
from datetime import timedelta

from conveyor import EmailJob, Jobs, JobState
from tests.smtp_server import SmtpServer


async def test_delayed_email_waits_then_sends(time_jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = f"later-{uuid.uuid4().hex[:8]}@example.com"  # no other test's mail to this address
    handle = await time_jobs.email(EmailJob(to=[to], subject="Tomorrow", text="hi"), delay=timedelta(days=1))
    status = await time_jobs.status(handle.id)
    assert status.state is JobState.SCHEDULED
    assert status.starts_at is not None and status.starts_at - status.created_at >= timedelta(hours=23)
    assert smtp_server.to(to) == []
    await handle.result()  # the test server skips the day while we wait
    assert len(smtp_server.to(to)) == 1
    assert (await time_jobs.status(handle.id)).state is JobState.COMPLETED
