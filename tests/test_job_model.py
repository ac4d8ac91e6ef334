"""One job model: every state reached and filtered the same in `status` and `list` (both shapes), a retried job is
one job everywhere, and every path that starts a job applies its kind's preparation from settings."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import KINDS, Shape
from contracts.welcome import WelcomeJob
from conveyor import EmailJob, InvalidJobError, JobFailed, Jobs, JobState, Settings
from conveyor.client import BulkJob, validate
from tests.api_server import ApiThread
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def note(to: str) -> EmailJob:
    return EmailJob(to=[to], subject="Note", text="hello")


async def listed_as(jobs: Jobs, key: str, state: JobState) -> list[str]:
    """Ids of the jobs with idempotency key `key` that `list` shows in `state`."""
    return [row.id for row in await jobs.list(key=key, state=state)]


async def shown_as(jobs: Jobs, job_id: str, key: str, state: JobState) -> None:
    """Wait until `status` says `state`, then check that `list` filtered by `state` shows the job, as an email."""
    status = await eventually(lambda: jobs.status(job_id), lambda s: s.state is state)
    assert status.kind == "email" and status.shape is Shape.ACTIVITY
    assert await eventually(lambda: listed_as(jobs, key, state), lambda ids: ids == [job_id])


async def test_every_state_is_reached_and_filtered_the_same_in_status_and_list(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = settings.model_copy(update={"standalone_activities": True})
    jobs = Jobs(temporal_env.client, settings)
    run = uuid.uuid4().hex[:8]
    slow, flaky, gone = address("slow"), address("flaky"), address("gone")
    release = smtp_server.hold(slow)
    smtp_server.fail(flaky, 451, times=50)
    smtp_server.fail(gone, 550)
    handles = {
        JobState.QUEUED: await jobs.email(note(address("queued")), key=f"{run}-queued"),
        JobState.SCHEDULED: await jobs.email(note(address("later")), key=f"{run}-later", delay=timedelta(hours=1)),
        JobState.RUNNING: await jobs.email(note(slow), key=f"{run}-running"),
        JobState.RETRYING: await jobs.email(note(flaky), key=f"{run}-retrying"),
        JobState.FAILED: await jobs.email(note(gone), key=f"{run}-failed"),
        JobState.COMPLETED: await jobs.email(note(address("ok")), key=f"{run}-completed"),
    }
    assert all(h.shape is Shape.ACTIVITY for h in handles.values()), "email runs as a standalone activity"
    assert (await jobs.status(handles[JobState.QUEUED].id)).state is JobState.QUEUED  # no worker yet
    queued_id = handles[JobState.QUEUED].id  # visibility shows a start a moment after it: wait for the listing
    assert await eventually(lambda: listed_as(jobs, f"{run}-queued", JobState.QUEUED), lambda i: i == [queued_id])

    async with running(build_workers(temporal_env.client, settings)):
        await handles[JobState.COMPLETED].result()
        with pytest.raises(JobFailed):
            await handles[JobState.FAILED].result()
        queued = handles.pop(JobState.QUEUED)
        await queued.result()
        for state, handle in handles.items():
            await shown_as(jobs, handle.id, f"{run}-{'later' if state is JobState.SCHEDULED else state.value}", state)
        retrying = await jobs.status(handles[JobState.RETRYING].id)
        assert retrying.failure is not None and retrying.failure.type == "SmtpUnavailable"
        assert (await jobs.list(key=f"{run}-failed"))[0].failure is not None, "list shows a failed job's failure"
        await jobs.cancel(handles[JobState.SCHEDULED].id)
        await jobs.cancel(handles[JobState.RETRYING].id)
        release.set()
        await handles[JobState.RUNNING].result()
    await shown_as(jobs, handles[JobState.SCHEDULED].id, f"{run}-later", JobState.CANCELLED)
    await shown_as(jobs, handles[JobState.RETRYING].id, f"{run}-retrying", JobState.CANCELLED)


async def test_terminated_and_timed_out_jobs_are_states_of_their_own(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    settings = settings.model_copy(update={"standalone_activities": True})
    jobs = Jobs(temporal_env.client, settings)
    run = uuid.uuid4().hex[:8]
    doomed = await jobs.email(note(address("doomed")), key=f"{run}-terminated", delay=timedelta(hours=1))
    await doomed.execution.terminate(reason="operator")
    # A workflow-shaped job past its execution timeout (no worker: it never ran) ends timed-out.
    late = await temporal_env.client.start_workflow(
        "Welcome", WelcomeJob(user_id=run), id=f"welcome-{run}", task_queue=settings.task_queue,
        execution_timeout=timedelta(seconds=1),
    )  # fmt: skip
    with pytest.raises(WorkflowFailureError):
        await late.result()
    await shown_as(jobs, doomed.id, f"{run}-terminated", JobState.TERMINATED)
    timed_out = await jobs.status(late.id)
    assert timed_out.state is JobState.TIMED_OUT and timed_out.kind == "welcome"
    assert await eventually(
        lambda: listed_as(jobs, f"{run}-terminated", JobState.TERMINATED), lambda i: i == [doomed.id]
    )
    rows = await eventually(
        lambda: jobs.list(kind="welcome", state=JobState.TIMED_OUT), lambda r: late.id in [x.id for x in r]
    )
    assert all(r.kind == "welcome" for r in rows)


async def test_failed_retried_and_completed_job_counts_once_as_completed(
    own_jobs: Jobs, smtp_server: SmtpServer
) -> None:
    jobs = own_jobs  # a server of its own: `stats` and the dead-letter view count this test's job only
    to = address("bounced")
    smtp_server.fail(to, 550)
    key = f"once-{uuid.uuid4().hex[:8]}"
    handle = await jobs.email(note(to), key=key)
    with pytest.raises(JobFailed):
        await handle.result()
    assert await eventually(lambda: jobs.failed(kind="email"), lambda rows: [r.id for r in rows] == [handle.id])
    smtp_server.heal(to)
    await jobs.retry(handle.id)
    await jobs.result(handle.id)
    rows = await eventually(lambda: jobs.list(key=key), lambda r: [x.state for x in r] == [JobState.COMPLETED])
    assert [r.id for r in rows] == [handle.id]
    assert await jobs.failed(kind="email") == []
    assert await listed_as(jobs, key, JobState.FAILED) == []
    counts = await eventually(lambda: email_counts(jobs), lambda c: c == {"completed": 1}, timeout=20)
    assert counts == {"completed": 1}, "one job, counted once, in its latest state"
    assert len(smtp_server.to(to)) == 1


async def email_counts(jobs: Jobs) -> dict[str, int]:
    """The email jobs `stats` counts per state, without the states at zero."""
    return {state: n for state, n in (await jobs.stats()).by_kind()["email"].items() if n}


async def test_every_path_prepares_a_broadcast_the_same(temporal_env: WorkflowEnvironment, settings: Settings) -> None:
    """`CONVEYOR_BROADCAST_CONTINUE_EVERY` reaches the workflow whichever way the broadcast was started."""
    tuned = settings.model_copy(update={"broadcast_continue_every": 1234})
    jobs = Jobs(temporal_env.client, tuned)
    job = {"source": "static:a@example.com", "message": {"template": "newsletter"}}
    run = uuid.uuid4().hex[:8]
    direct = await jobs.broadcast(job, key=f"{run}-a", delay=timedelta(hours=1))
    (bulk,) = await jobs.bulk([BulkJob("broadcast", job, key=f"{run}-b", delay=timedelta(hours=1))])
    with ApiThread(tuned) as api:
        async with api.client() as http:
            response = await http.post("/jobs/broadcast?delay=3600", json=job, headers={"Idempotency-Key": f"{run}-c"})
    assert response.status_code == 202, response.text
    inputs: list[Any] = []
    for job_id in (direct.id, getattr(bulk, "id", ""), response.json()["id"]):
        history = await temporal_env.client.get_workflow_handle(job_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        inputs.append(started.input.payloads[0].data)
        await temporal_env.client.get_workflow_handle(job_id).terminate()
    assert inputs[0] == inputs[1] == inputs[2] and b'"continue_every":1234' in inputs[0]


async def test_every_kind_is_listed_counted_and_failed_listed(jobs: Jobs, api: ApiThread) -> None:
    stats = await jobs.stats()
    assert set(stats.counts) >= {"email", "sms", "report", "broadcast", "welcome", "cleanup"}
    async with api.client() as http:
        for kind in KINDS:
            for path in (f"/jobs?kind={kind}", f"/jobs/failed?kind={kind}"):
                response = await http.get(path)
                assert response.status_code == 200, (path, response.text)
        assert (await http.get("/jobs?state=scheduled-for-later")).status_code == 200, "the old name still reads"
        for state in JobState:
            assert (await http.get(f"/jobs?state={state.value}")).status_code == 200
        counted = (await http.get("/stats")).json()["counts"]
        all_counted = (await http.get("/stats?include_internal=true")).json()["counts"]
    assert set(counted) == {name for name, kind in KINDS.items() if not kind.internal}
    assert set(all_counted) == set(KINDS), "housekeeping too, when asked"


def test_bad_input_is_one_error_type_however_the_job_is_built() -> None:
    """A model built by hand and a dict given to the client fail the same way: `InvalidJobError`, same fields."""
    bad = {"to": ["nope"], "subject": "s", "text": "t"}
    with pytest.raises(InvalidJobError) as by_hand:
        EmailJob(**bad)
    with pytest.raises(InvalidJobError) as from_dict:
        validate(KINDS["email"], bad)
    assert by_hand.value.fields == from_dict.value.fields and list(by_hand.value.fields) == ["to.0"]
    assert isinstance(by_hand.value, ValueError), "code that caught ValueError still does"


async def test_stats_count_every_open_job_and_tell_apart_the_newest_due_ones(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # No worker: every job stays open. The server counts them all (scheduled ones exactly); the newest 2 due ones
    # are described (queued), the third is counted as open, not told apart.
    jobs = Jobs(own_temporal.client, settings_for(own_temporal, smtp_server, tmp_path, stats_open_limit=2))
    for _ in range(2):
        await jobs.email(note(address("later")), delay=timedelta(hours=1))
    for _ in range(3):
        await jobs.email(note(address("waiting")))
    expected = {"scheduled": 2, "queued": 2}
    stats = await eventually(jobs.stats, lambda s: {k: n for k, n in s.by_kind()["email"].items() if n} == expected)
    assert stats.open_beyond_limit == {"email": 1}
