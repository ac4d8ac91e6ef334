"""Operating jobs as a Bull Board user would: states, retry, cancel, the dead-letter view, stats, search,
bulk and priority — against the real dev server, worker and SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import ActivityFailureError, ActivityHandle
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.failure_watch import FailureWatchInput, FailureWatchReport
from contracts.kinds import KINDS, Shape
from conveyor import EmailJob, JobFailed, JobHandle, JobNotFound, Jobs, JobState, Settings, search_attributes
from conveyor.client import BulkJob
from conveyor.errors import InvalidJobError, JobStateError
from conveyor.operations import JobStats, JobSummary
from tests.api_server import ApiThread
from tests.cli import BIN, env_for, run
from tests.readback import alert_for, priority_of
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from tests.webhook import Webhook
from worker.build import WORKFLOW_RUNNER, WORKFLOWS, build_workers
from worker.run import running
from workflows.policies import POLICIES, policy_of


def address(name: str = "ops") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def note(to: str) -> EmailJob:
    return EmailJob(to=[to], subject="Note", text="hello")


@pytest.mark.parametrize("shape", Shape)
async def test_status_walks_queued_running_retrying_completed(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, shape: Shape
) -> None:
    jobs = Jobs(temporal_env.client, settings)
    slow, flaky = address("slow"), address("flaky")
    release = smtp_server.hold(slow)
    smtp_server.fail(flaky, 451, times=2)  # retried after 1 s and 2 s: two retries show the walk
    held = await jobs.email(note(slow))
    retried = await jobs.email(note(flaky))
    assert (await jobs.status(held.id)).state is JobState.QUEUED  # no worker yet

    async with running(build_workers(temporal_env.client, settings)):
        status = await eventually(lambda: jobs.status(held.id), lambda s: s.state is JobState.RUNNING)
        assert status.stage == "sending" and status.shape is shape
        assert status.progress == (10 if shape is Shape.WORKFLOW else None), "a workflow step's figure; no heartbeat"
        status = await eventually(lambda: jobs.status(retried.id), lambda s: s.state is JobState.RETRYING)
        assert status.attempts >= 1 and status.failure is not None and status.failure.type == "SmtpUnavailable"
        release.set()
        await held.result()
        await retried.result()
    done = await jobs.status(retried.id)
    assert done.state is JobState.COMPLETED and done.attempts == 3 and done.progress == 100


async def test_retry_after_the_cause_is_fixed_delivers(jobs: Jobs, smtp_server: SmtpServer) -> None:
    to = address("bounced")
    smtp_server.fail(to, 550)
    handle = await jobs.email(note(to))
    with pytest.raises(JobFailed):
        await handle.result()
    smtp_server.heal(to)  # the mailbox exists now

    await jobs.retry(handle.id)
    result = await jobs.result(handle.id)
    assert result.accepted == [to] and len(smtp_server.to(to)) == 1
    assert (await jobs.status(handle.id)).state is JobState.COMPLETED
    with pytest.raises(JobStateError, match="completed"):
        await jobs.retry(handle.id)


async def options_of(jobs: Jobs, job_id: str) -> tuple[int | None, tuple[Any, ...]]:
    """The priority key Temporal holds for the job, and (an activity-shaped job's) retry policy and time-outs as
    the server holds them (a workflow's steps take theirs from its code, which a retry runs again)."""
    execution = (await jobs.locate(job_id)).execution
    if not isinstance(execution, ActivityHandle):
        return await priority_of(jobs, job_id), ()
    desc = await execution.describe()
    timeouts = (desc.start_to_close_timeout, desc.heartbeat_timeout, desc.schedule_to_close_timeout)
    return desc.priority.priority_key, (desc.retry_policy, *timeouts)


@pytest.mark.parametrize("shape", Shape)
async def test_retry_keeps_the_jobs_priority_and_policy(jobs: Jobs, smtp_server: SmtpServer, shape: Shape) -> None:
    to = address("bounced")
    smtp_server.fail(to, 550)
    handle = await jobs.email(note(to), priority=2)
    assert handle.shape is shape
    with pytest.raises(JobFailed):
        await handle.result()
    first = await options_of(jobs, handle.id)
    assert first[0] == 2
    if shape is Shape.ACTIVITY:
        assert first[1][0].maximum_attempts == POLICIES["email"].max_attempts, "the kind's policy row, as enqueued"
    smtp_server.heal(to)
    await jobs.retry(handle.id)
    await jobs.result(handle.id)
    assert await options_of(jobs, handle.id) == first


@pytest.mark.parametrize("shape", Shape)
async def test_retry_of_open_or_unknown_job_is_refused(jobs: Jobs, smtp_server: SmtpServer, shape: Shape) -> None:
    handle = await jobs.email(note(address()), delay=timedelta(hours=1))
    assert handle.shape is shape
    with pytest.raises(JobStateError, match="is scheduled: only failed"):
        await jobs.retry(handle.id)
    await jobs.cancel(handle.id)
    with pytest.raises(JobNotFound):
        await jobs.retry("email-no-such-job")


@pytest.mark.parametrize("shape", Shape)
async def test_cancelled_job_ends_cancelled_without_alert(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, webhook: Webhook, shape: Shape
) -> None:
    """A job cancelled while its send runs ends cancelled, and nobody is paged for it: no alert step or alert job
    was started, and the ops mailbox and webhook get nothing for it, read once a failed job's alert has arrived
    through the same worker and channels."""
    ops, held, gone = address("oncall"), address("held"), address("gone")
    settings = settings.model_copy(update={"ops_email": ops, "alert_webhook_url": webhook.url})
    jobs = Jobs(temporal_env.client, settings)
    release = smtp_server.hold(held)
    smtp_server.fail(gone, 550)
    try:
        async with running(build_workers(temporal_env.client, settings)):
            handle = await jobs.email(note(held))
            assert handle.shape is shape
            await eventually(lambda: jobs.status(handle.id), lambda s: s.state is JobState.RUNNING)
            await eventually(lambda: rcpt_attempts(smtp_server, held), lambda n: n == 1)  # the send is at the server
            await jobs.cancel(handle.id)
            status = await eventually(lambda: jobs.status(handle.id), lambda s: s.state.done, timeout=30)
            assert status.state is JobState.CANCELLED
            with pytest.raises(JobStateError, match="already ended"):
                await jobs.cancel(handle.id)
            release.set()
            failed = await jobs.email(note(gone))  # its alert marks when the channels have been read
            with pytest.raises(JobFailed):
                await failed.result()
            await eventually(lambda: alert_posts(webhook, failed.id), lambda posts: len(posts) == 1)
            [alert] = await eventually(lambda: ops_mail(smtp_server, ops), lambda sent: len(sent) == 1)
    finally:
        release.set()
    assert handle.id not in alert.get_content() and failed.id in alert.get_content()
    assert await alert_posts(webhook, handle.id) == []
    if shape is Shape.WORKFLOW:
        assert "send_alert" not in (await handle.workflow.fetch_history()).to_json()
    else:
        with pytest.raises(RPCError) as missing:
            await (await alert_for(temporal_env.client, handle.id)).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
    # (The held message itself may still arrive: a cancel cannot take back an SMTP transaction under way.)


async def ops_mail(smtp: SmtpServer, ops: str) -> list[EmailMessage]:
    return smtp.to(ops)


async def rcpt_attempts(smtp: SmtpServer, to: str) -> int:
    return smtp.attempts(to)


async def alert_posts(webhook: Webhook, job_id: str) -> list[dict[str, Any]]:
    return [p for p in webhook.posts if p["job_id"] == job_id]


async def rejected_job(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, **overrides: object
) -> tuple[JobHandle, JobFailed]:
    """An email to a mailbox that refuses it (550), run to its end by a worker with `overrides` settings. Its
    alert may still be on its way: a workflow job sends it before failing, an activity-shaped job starts it."""
    to = address("gone")
    smtp_server.fail(to, 550)
    settings = settings.model_copy(update=overrides)
    async with running(build_workers(temporal_env.client, settings)):
        handle = await Jobs(temporal_env.client, settings).email(note(to))
        with pytest.raises(JobFailed) as failed:
            await handle.result()
    return handle, failed.value


@pytest.mark.parametrize("shape", Shape)
async def test_failed_job_alerts_ops_by_email_and_webhook(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, webhook: Webhook, shape: Shape
) -> None:
    """A job that fails for good is announced at once by itself, in either shape: a workflow runs its alert
    before failing; an activity-shaped job's last attempt starts its alert (no wait for the failure watcher,
    whose schedule is not even running here)."""
    ops = address("oncall")
    handle, failed = await rejected_job(
        temporal_env, settings, smtp_server, ops_email=ops, alert_webhook_url=webhook.url
    )
    assert failed.type == "RecipientRejected" and handle.shape is shape

    async def alerts() -> list[EmailMessage]:
        return smtp_server.to(ops)

    [alert] = await eventually(alerts, lambda sent: len(sent) == 1)
    assert alert["Subject"] == "[Conveyor] email job failed: RecipientRejected"
    assert alert["Message-ID"] == f"<alert-{handle.id}@conveyor.test>", "a retried alert is recognisably the same"
    body = alert.get_content()
    status = await Jobs(temporal_env.client, settings).status(handle.id)
    assert handle.id in body and "after 1 attempt(s)" in body and status.ui_url in body, "a link to the job's page"

    async def posts() -> list[dict[str, Any]]:
        return [p for p in webhook.posts if p["job_id"] == handle.id]

    [posted] = await eventually(posts, lambda found: len(found) == 1)
    assert posted["failure_type"] == "RecipientRejected" and posted["attempts"] == 1
    assert handle.id in posted["text"]


@pytest.mark.parametrize("shape", Shape)
async def test_broken_alert_channel_never_hides_the_failure(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, shape: Shape
) -> None:
    dead_webhook = SecretStr("http://127.0.0.1:1/hooks/secret-token-in-url")
    settings = settings.model_copy(update={"alert_webhook_url": dead_webhook})
    to = address("gone")
    smtp_server.fail(to, 550)
    async with running(build_workers(temporal_env.client, settings)):
        handle = await Jobs(temporal_env.client, settings).email(note(to))
        with pytest.raises(JobFailed) as failed:
            await handle.result()
        assert failed.value.type == "RecipientRejected" and handle.shape is shape
        if shape is Shape.WORKFLOW:  # the alert is a step of the job, given up before the job fails
            record = (await handle.workflow.fetch_history()).to_json()
        else:  # the alert is a standalone activity of its own, failing after its attempts
            alert = await alert_for(temporal_env.client, handle.id)
            with pytest.raises(ActivityFailureError):
                await alert.result()
            described = await alert.describe(include_outcome=True, include_last_failure=True)
            record = f"{described.raw_info}{described.raw_outcome}"
    assert "AlertUndelivered" in record and "secret-token-in-url" not in record


async def test_dead_letter_view_and_retry_all_failed(own_jobs: Jobs, smtp_server: SmtpServer) -> None:
    jobs = own_jobs  # a server of its own: the view and retry-all see this test's jobs only
    since = datetime.now(UTC) - timedelta(seconds=1)
    bad = [address("dead") for _ in range(3)]
    for to in bad:
        smtp_server.fail(to, 550)
    handles = [await jobs.email(note(to)) for to in bad]
    good = await jobs.email(note(address("fine")))
    for h in handles:
        with pytest.raises(JobFailed):
            await h.result()
    await good.result()

    failed = await eventually(lambda: jobs.failed(kind="email", since=since), lambda rows: len(rows) >= 3)
    assert {r.id for r in failed} == {h.id for h in handles}
    assert all(r.failure is not None and r.failure.type == "RecipientRejected" for r in failed)

    for to in bad:
        smtp_server.heal(to)
    assert await jobs.retry_failed(kind="email", since=since) == 3
    for h in handles:
        await jobs.result(h.id)
    assert all(len(smtp_server.to(to)) == 1 for to in bad)


async def test_stats_count_what_was_started(own_jobs: Jobs, smtp_server: SmtpServer) -> None:
    jobs = own_jobs  # a server of its own: exact counts, not growth on a server other tests share
    gone = address("gone")
    smtp_server.fail(gone, 550)
    ok = [await jobs.email(note(address())) for _ in range(2)]
    bad = await jobs.email(note(gone))
    for h in ok:
        await h.result()
    with pytest.raises(JobFailed):
        await bad.result()

    def email(stats: JobStats) -> dict[str, int]:
        return {state: n for state, n in stats.by_kind()["email"].items() if n}

    expected = {"completed": 2, "failed": 1}
    after = await eventually(jobs.stats, lambda a: email(a) == expected)
    assert email(after) == expected


async def test_housekeeping_jobs_are_listed_and_counted_only_on_request(
    jobs: Jobs, settings: Settings, api: ApiThread
) -> None:
    """The failure watch runs every minute (about 1,440 jobs a day): `list` and `stats` leave Conveyor's own
    housekeeping out unless asked (`include_internal=True`, `?include_internal=true`, `--all`); naming its kind
    shows it too. The user's own jobs are there either way."""
    watch_id = f"failure-watch-{uuid.uuid4().hex[:8]}"
    await jobs.client.execute_workflow(
        "FailureWatcher",
        FailureWatchInput(lookback_seconds=60, task_queues=[settings.task_queue]),
        id=watch_id,
        task_queue=settings.task_queue,
        result_type=FailureWatchReport,
    )
    mine = await jobs.email(note(address("mine")))
    await mine.result()

    def ids(rows: list[JobSummary]) -> set[str]:
        return {row.id for row in rows}

    await eventually(lambda: jobs.list(include_internal=True), lambda rows: {watch_id, mine.id} <= ids(rows))
    assert mine.id in ids(await jobs.list()) and watch_id not in ids(await jobs.list())
    assert watch_id in ids(await jobs.list(kind="failure_watch"))
    assert "failure_watch" not in (await jobs.stats()).counts
    assert (await jobs.stats(include_internal=True)).by_kind()["failure_watch"]["completed"] >= 1
    async with api.client() as http:
        listed = {row["id"] for row in (await http.get("/jobs")).json()}
        everything = {row["id"] for row in (await http.get("/jobs", params={"include_internal": "true"})).json()}
        counted = (await http.get("/stats")).json()["counts"]
        all_counted = (await http.get("/stats", params={"include_internal": "true"})).json()["counts"]
    assert mine.id in listed and watch_id not in listed and watch_id in everything
    assert "failure_watch" not in counted and "failure_watch" in all_counted
    env = env_for(settings)
    plain, with_all = [await run(str(BIN / "conveyor"), "list", *flag, "--json", env=env) for flag in ([], ["--all"])]
    assert watch_id not in plain.out and mine.id in plain.out and watch_id in with_all.out, plain.err + with_all.err
    counted_all, counted_mine = [await run(str(BIN / "conveyor"), "stats", *flag, env=env) for flag in (["--all"], [])]
    assert "failure_watch" in counted_all.out and "failure_watch" not in counted_mine.out


async def test_find_jobs_by_recipient_key_and_state(jobs: Jobs) -> None:
    to, key = address("findme"), f"order-{uuid.uuid4().hex[:6]}"
    handle = await jobs.email(note(to), key=key)
    await handle.result()
    by_recipient = await eventually(lambda: jobs.list(recipient=to), lambda rows: len(rows) == 1)
    assert by_recipient[0].id == handle.id == f"email-{key}" and by_recipient[0].kind == "email"
    by_key = await eventually(lambda: jobs.list(key=key, state=JobState.COMPLETED), lambda rows: len(rows) == 1)
    assert by_key[0].state is JobState.COMPLETED
    assert await jobs.list(key=key, state=JobState.FAILED) == []
    with pytest.raises(InvalidJobError):
        await jobs.list(kind="fax")


async def test_email_jobs_carry_no_search_attribute_and_older_tagged_ones_stay_findable(
    jobs: Jobs, settings: Settings
) -> None:
    """Email jobs start with no search attribute (the web UI's one-click re-run fails on any), found by key through
    their id and by recipient through their input; a job started before that, tagged with `JobKey` and
    `Recipients`, is still found by them, even past the recipient scan's window."""
    old_to, old_key = address("tagged"), f"old-{uuid.uuid4().hex[:6]}"
    policy = policy_of(KINDS["email"])
    tagged = await jobs.client.start_activity(
        "email", note(old_to), id=f"email-{old_key}", task_queue=settings.task_queue,
        search_attributes=search_attributes.for_job(old_key, [old_to]), **policy.activity_options(),
    )  # fmt: skip
    await tagged.result()
    new_to = address("untagged")
    new = await jobs.email(note(new_to), key=f"new-{uuid.uuid4().hex[:6]}")
    await new.result()
    assert (await jobs.client.get_activity_handle(new.id).describe()).typed_search_attributes == TypedSearchAttributes(
        []
    )

    narrow = Jobs(jobs.client, settings.model_copy(update={"recipient_scan_limit": 1}))  # the newest job only
    found = await eventually(lambda: narrow.list(recipient=old_to), lambda rows: len(rows) == 1)
    assert [r.id for r in found] == [f"email-{old_key}"]
    assert [r.id for r in await narrow.list(key=old_key)] == [f"email-{old_key}"]
    # The untagged job is found by the scan of the newest jobs (the default window: other tests' jobs on this shared
    # server may be newer than it), once visibility has it.
    newest = await eventually(lambda: jobs.list(recipient=new_to), bool)
    assert [r.id for r in newest] == [new.id]


async def test_bulk_enqueues_all_but_the_bad_item(jobs: Jobs, smtp_server: SmtpServer) -> None:
    recipients = [address("bulk") for _ in range(20)]
    items = [BulkJob("email", note(to)) for to in recipients]
    items.insert(7, BulkJob("email", {"to": ["not-an-address"], "subject": "x", "text": "y"}))
    results = await jobs.bulk(items, concurrency=5)
    assert isinstance(results[7], InvalidJobError) and "to.0" in str(results[7])
    handles = [r for r in results if not isinstance(r, Exception)]
    assert len(handles) == 20
    for h in handles:
        await h.result()
    assert all(len(smtp_server.to(to)) == 1 for to in recipients)


@pytest.mark.parametrize("shape", Shape)
async def test_priority_orders_the_backlog(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, shape: Shape
) -> None:
    """Priority order holds under a backlog (celery#4028: priorities ignored once a worker has prefetched): the
    server's task queue, not a worker's buffer, decides what runs next."""
    # One at a time: the order tasks leave the backlog is then the order emails arrive.
    settings = settings.model_copy(update={"max_concurrent_activities": 1, "max_concurrent_workflow_tasks": 1})
    jobs = Jobs(temporal_env.client, settings)
    priorities = [5, 3, 1, 4, 2, 5, 1, 3]
    sent = {}
    handles = []
    for p in priorities:
        to = address(f"p{p}")
        sent[to] = p
        handles.append(await jobs.email(note(to), priority=p))
    if shape is Shape.WORKFLOW:
        # The backlog: a worker without activities takes each job's first workflow task, so every send waits,
        # with its job's priority, for an activity worker that is not there yet. (Activity-shaped jobs are
        # that backlog as soon as they are enqueued.)
        workflows_only = Worker(
            temporal_env.client, task_queue=settings.task_queue, workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER
        )
        async with workflows_only:
            for h in handles:
                await eventually(h.workflow.describe, lambda d: len(d.raw_description.pending_activities) == 1)
    async with running(build_workers(temporal_env.client, settings)):
        for h in handles:
            await h.result()
    order = [sent[to] for to in await _delivered(smtp_server, sent)]
    assert order == sorted(priorities), f"delivered in priority order {order}"
    with pytest.raises(InvalidJobError, match="priority"):
        await jobs.email(note(address()), priority=9)


async def _delivered(smtp: SmtpServer, sent: dict[str, int]) -> list[str]:
    return [r.rcpt_tos[0] for r in smtp.handler.received if r.rcpt_tos[0] in sent]
