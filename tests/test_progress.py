"""`status` reads how far a running job is, whichever way the job reports it (one `Progress` model throughout):
a report's rows from its render's heartbeat, a broadcast's recipients from its workflow's `status` query, an
email being sent from the heartbeat of the standalone activity that is the job, a welcome flow's wait from its
query. Each job is held mid-way by a real part (a report source waiting for a file, an SMTP server holding a
recipient, a flow waiting for an event), so what `status` shows is what the job is doing, not a race."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

import tests.held_report  # noqa: F401  (registers the `held-rows` report in this process)
from conveyor import EmailJob, Jobs, JobState, Progress, ReportJob, Settings
from conveyor.status import JobStatus, answered, progress_of
from tests.api_server import ApiThread
from tests.cli import conveyor
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running


async def test_status_shows_the_rows_a_report_has_rendered(jobs: Jobs, settings: Settings, tmp_path: Path) -> None:
    release = tmp_path / "release"
    handle = await jobs.report(
        ReportJob(report="held-rows", params={"rows": "3000", "hold_at": "1000", "release": str(release)})
    )
    # The render holds at row 1,000; a heartbeat on the way there may show fewer rows, so wait for the hold.
    status = await eventually(lambda: jobs.status(handle.id), lambda s: s.detail == "1,000/3,000 rows", timeout=30)
    assert status.state is JobState.RUNNING and status.stage == "rendering" and status.progress == 33
    assert status.reported is not None and (status.reported.done, status.reported.unit) == (1000, "rows")
    shown = await conveyor(settings, "status", handle.id)
    assert "progress   33% (rendering, 1,000/3,000 rows)" in shown.out, shown.out + shown.err
    release.touch()
    assert (await handle.result()).rows == 3000


async def test_status_shows_the_recipients_a_broadcast_has_reached(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    addresses = [f"r{i}-{tag}@example.com" for i in range(10)]
    (tmp_path / "list.csv").write_text("email\n" + "\n".join([*addresses, "not-an-address"]) + "\n")
    release = smtp_server.hold(addresses[0])  # the first batch waits on it; the second completes
    try:
        handle = await jobs.broadcast(
            {"source": f"csv:{tmp_path / 'list.csv'}", "message": {"template": "newsletter"}, "batch_size": 5,
             "parallel_batches": 2},
        )  # fmt: skip
        status = await eventually(
            lambda: jobs.status(handle.id), lambda s: s.reported is not None and s.reported.done == 6
        )
        assert status.state is JobState.RUNNING and status.stage == "sending"
        assert status.detail == "6/11 recipients (1 failed)" and status.progress == 54
        with ApiThread(settings) as api:
            async with api.client() as http:
                response = await http.get(f"/jobs/{handle.id}")
        shown = JobStatus.model_validate(response.json())
        assert shown.reported == status.reported, "the HTTP API shows the same counts"
    finally:
        release.set()
    result = await handle.result()
    assert (result.sent, result.failed) == (10, 1)


async def test_status_shows_an_email_job_sending(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(temporal_env, smtp_server, tmp_path, standalone_activities=True)
    jobs = Jobs(temporal_env.client, settings)
    to = f"held-{uuid.uuid4().hex[:8]}@example.com"
    release = smtp_server.hold(to)
    try:
        async with running(build_workers(temporal_env.client, settings)):
            handle = await jobs.email(EmailJob(to=[to], subject="Held", text="held at RCPT"))
            # The send heartbeats once it has taken a quarter of its heartbeat timeout (2.5 s): a slow one says so.
            status = await eventually(lambda: jobs.status(handle.id), lambda s: s.reported is not None)
            assert status.shape.value == "activity" and status.state is JobState.RUNNING
            assert status.reported == Progress(stage="sending") and status.stage == "sending"
            release.set()
            await handle.result()
    finally:
        release.set()
    assert (await jobs.status(handle.id)).state is JobState.COMPLETED


async def test_status_shows_until_when_a_welcome_flow_waits(jobs: Jobs, settings: Settings) -> None:
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    handle = await jobs.signal_event({"name": "user.created", "user_id": user_id, "email": f"{user_id}@example.com"})
    try:
        status = await eventually(lambda: jobs.status(handle.id), lambda s: s.stage == "waiting for user.activated")
        assert status.reported is not None and status.reported.until is not None
        until = status.reported.until
        assert until >= status.created_at + settings.welcome_follow_up_after, "the follow-up is due then"
        assert status.progress == 50 and status.detail == f"until {until:%Y-%m-%d %H:%M} UTC"
    finally:
        await jobs.cancel(handle.id)


def test_what_workers_before_the_one_model_reported_still_reads() -> None:
    """A deploy leaves jobs in flight whose last heartbeat or query answer has an earlier form: status shows what
    it can of them and never fails on them."""
    report = Payload(data=b'{"done": 40000, "total": 100000, "unit": "rows"}')
    batch = Payload(data=b'{"sent": ["a@example.com"], "failures": []}')  # a broadcast batch's resume state alone
    rows, recipients = progress_of([report]), progress_of([batch])
    assert rows is not None and rows.describe() == "40,000/100,000 rows" and rows.percent_done() == 40
    assert recipients is not None and recipients.describe() is None, "shown without detail"
    assert progress_of([Payload(data=b'"email-1"')]) is None and progress_of([Payload(data=b"\xff")]) is None
    old = answered({"stage": "sending", "percent": 42, "detail": "420 sent, 1 failed, 579 remaining", "sent": 420})
    assert old is not None and (old.stage, old.percent_done(), old.describe()) == (
        "sending",
        42,
        "420 sent, 1 failed, 579 remaining",
    )
    assert answered(["not", "progress"]) is None
