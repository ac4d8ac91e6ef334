"""Activity-shaped jobs that fail for good are announced once each: by their own last attempt when it knows it
is the last, and by the failure watcher for every ending, time-outs included. On the dev server (the
time-skipping server cannot run standalone activities), with trivial jobs started by `client.start_activity`."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import ActivityFailureError, Client
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts import JobAlert
from activities.failure_watch import FailureWatch, announce, is_last_attempt
from contracts.failure_watch import FailureWatchInput, FailureWatchReport
from conveyor import EmailJob, JobFailed, Jobs, Settings
from tests.conftest import settings_for
from tests.readback import alert_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from tests.webhook import Webhook
from worker.build import WORKFLOW_RUNNER, alert_channels, build_workers, failure_watch
from worker.run import running
from workflows.failure_watcher import FailureWatcher
from workflows.policies import POLICIES


def note(to: str) -> EmailJob:
    return EmailJob(to=[to], subject="Note", text="hello")


QUICK = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(milliseconds=200))


class TrivialJobs:
    """Stand-ins for activity-shaped jobs: one refused for good, one that never finishes its attempt, one that
    fails transiently and announces itself on its known-last attempt."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name="refused_job")
    async def refused(self, _: str) -> None:
        raise ApplicationError("the receiving side said no", type="RecipientRejected", non_retryable=True)

    @activity.defn(name="stuck_job")
    async def stuck(self, _: str) -> None:
        await asyncio.Event().wait()  # until the start-to-close time-out cancels it

    @activity.defn(name="flaky_job")
    async def flaky(self, _: str) -> None:
        error = ApplicationError("try again", type="SmtpUnavailable")
        if is_last_attempt(error):
            info = activity.info()
            alert = JobAlert(
                kind="test", job_id=info.activity_id, failure_type="SmtpUnavailable", message="try again",
                attempts=info.attempt, run_id=info.activity_run_id,
            )  # fmt: skip
            row = POLICIES["alert"]
            await announce(self.client, alert, info.task_queue, row.attempt_timeout, row.retry_policy())
        raise error


@pytest.fixture
def watched(temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, webhook: Webhook) -> Settings:
    return settings_for(temporal_env, smtp_server, tmp_path, alert_webhook_url=webhook.url)


async def failed_job(
    client: Client,
    activity_type: str,
    job_id: str,
    queue: str,
    timeout: timedelta = timedelta(seconds=10),
    retry_policy: RetryPolicy = QUICK,
    job: Any = "x",
) -> None:
    """Start a job (a trivial one, unless `job` is given) with no search attributes (as `temporal activity start`
    or the UI's re-run does); wait for it to fail."""
    handle = await client.start_activity(
        activity_type,
        job,
        id=job_id,
        task_queue=queue,
        start_to_close_timeout=timeout,
        retry_policy=retry_policy,
    )
    with pytest.raises(ActivityFailureError):
        await handle.result()


async def watch(client: Client, settings: Settings, queue: str) -> FailureWatchReport:
    return await client.execute_workflow(
        "FailureWatcher",
        FailureWatchInput(lookback_seconds=300, task_queues=[queue]),
        id=f"failure-watch-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=FailureWatchReport,
    )


async def test_every_final_failure_is_alerted_once(
    temporal_env: WorkflowEnvironment, watched: Settings, webhook: Webhook
) -> None:
    client = temporal_env.client
    assert client.data_converter is pydantic_data_converter
    jobs, queue = TrivialJobs(client), f"{watched.task_queue}-jobs"
    refused, stuck, flaky = (f"job-{name}-{uuid.uuid4().hex[:8]}" for name in ("refused", "stuck", "flaky"))
    alert = POLICIES["alert"]
    kinds = {"refused_job": "test", "stuck_job": "test", "flaky_job": "test"}
    watcher = FailureWatch(client, kinds, alert.attempt_timeout, alert.retry_policy())
    job_worker = Worker(
        client,
        task_queue=queue,
        activities=[jobs.refused, jobs.stuck, jobs.flaky, alert_channels(watched).send_alert],
    )
    watcher_worker = Worker(
        client,
        task_queue=watched.task_queue,
        workflows=[FailureWatcher],
        activities=[watcher.alert_failed_jobs],
        workflow_runner=WORKFLOW_RUNNER,
    )
    async with running([job_worker, watcher_worker]):
        await failed_job(client, "refused_job", refused, queue)
        await failed_job(client, "stuck_job", stuck, queue, timedelta(seconds=1), RetryPolicy(maximum_attempts=1))
        twice = dataclasses.replace(QUICK, maximum_attempts=2)
        await failed_job(client, "flaky_job", flaky, queue, retry_policy=twice)
        mine = {refused, stuck, flaky}
        await eventually(
            lambda: client.count_activities(f"TaskQueue='{queue}' AND ExecutionStatus IN ('Failed', 'TimedOut')"),
            lambda c: c.count == 3,
        )
        first = await watch(client, watched, queue)
        second = await watch(client, watched, queue)

        async def delivered() -> list[dict[str, Any]]:
            return [p for p in webhook.posts if p["job_id"] in mine]

        posts = await eventually(delivered, lambda p: len(p) >= 3)

    assert set(first.alerted) == {refused, stuck}, "the flaky job alerted itself on its known-last attempt"
    assert set(first.already_alerted) == {flaky}
    assert second.alerted == [] and set(second.already_alerted) == mine, "an overlapping window alerts nobody twice"
    by_job = {p["job_id"]: p for p in posts}
    assert len(posts) == 3 and set(by_job) == mine
    assert by_job[refused]["failure_type"] == "RecipientRejected" and by_job[refused]["attempts"] == 1
    assert by_job[stuck]["failure_type"] == "TimedOut", (
        "a time-out runs none of the job's code: only the watcher sees it"
    )
    assert by_job[flaky]["attempts"] == 2
    described = await (await alert_for(client, stuck)).describe()
    assert described.activity_type == "send_alert"


async def test_a_job_that_knows_its_last_attempt_alerts_itself_and_the_watcher_sends_nothing_more(
    temporal_env: WorkflowEnvironment, watched: Settings, smtp_server: SmtpServer, webhook: Webhook
) -> None:
    """Real email jobs on a real worker (its interceptor, `worker.last_attempt`): a refused one (permanent: its
    first attempt is its last) and one whose attempts run out (a producer's own policy of 2 attempts) alert at
    once, with no watcher running; one that succeeds on its retry alerts nobody. The watcher's scan afterwards
    finds both alerted already."""
    client = temporal_env.client
    gone, down, once = (f"{name}-{uuid.uuid4().hex[:8]}@example.com" for name in ("gone", "down", "once"))
    smtp_server.fail(gone, 550)
    smtp_server.fail(down, 451, times=1000)
    smtp_server.fail(once, 451, times=1)
    settings = watched.model_copy(update={"standalone_activities": True})
    jobs = Jobs(client, settings)
    async with running(build_workers(client, settings)):
        refused, recovered = await jobs.email(note(gone)), await jobs.email(note(once))
        ran_out = f"email-{uuid.uuid4().hex}"
        row = POLICIES["email"]
        await failed_job(client, "email", ran_out, settings.task_queue, row.attempt_timeout,
                         dataclasses.replace(QUICK, maximum_attempts=2), job=note(down))  # fmt: skip
        with pytest.raises(JobFailed):
            await refused.result()
        await recovered.result()

        async def alerts() -> dict[str, dict[str, Any]]:
            return {p["job_id"]: p for p in webhook.posts if p["job_id"] in (refused.id, ran_out, recovered.id)}

        posts = await eventually(alerts, lambda p: len(p) >= 2)
        report = await watch(client, settings, settings.task_queue)
        assert set(posts) == {refused.id, ran_out}, "a job that recovered on its retry is not announced"
        assert posts[refused.id]["failure_type"] == "RecipientRejected" and posts[refused.id]["attempts"] == 1
        assert posts[ran_out]["failure_type"] == "SmtpUnavailable" and posts[ran_out]["attempts"] == 2
        assert report.alerted == [] and set(report.already_alerted) == {refused.id, ran_out}

        await jobs.retry(refused.id)  # the operator retries it; still refused: its new run is announced too
        with pytest.raises(JobFailed):
            await jobs.result(refused.id)

        async def refused_alerts() -> list[dict[str, Any]]:
            return [p for p in webhook.posts if p["job_id"] == refused.id]

        again = await eventually(refused_alerts, lambda p: len(p) == 2)
    assert [p["failure_type"] for p in again] == ["RecipientRejected"] * 2


def test_the_worker_watches_every_activity_shaped_kind(temporal_env: WorkflowEnvironment) -> None:
    watched = {"email": "email", "sms": "sms", "webhook": "webhook", "image": "image"}
    assert failure_watch(temporal_env.client).kinds == watched
