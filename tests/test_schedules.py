"""Schedules on the real dev server (they cannot be time-skipped): applied idempotently, managed with the real
`temporal schedule` commands, and firing once however many workers run."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    WorkflowExecution,
    WorkflowExecutionStatus,
)
from temporalio.testing import WorkflowEnvironment

from contracts.email import JOB_ID_HEADER
from contracts.report import ReportJob
from conveyor import Jobs, Settings
from conveyor.dev.stack import start_server, wait_for_server
from conveyor.schedules import describe
from tests.cli import run, start_worker, stop_worker
from tests.conftest import TEMPORAL, settings_for
from tests.reliability.processes import own_server, worker_process
from tests.smtp_server import SmtpServer, free_port
from tests.waiting import eventually
from worker.schedule_apply import apply
from worker.schedules import DeclaredSchedule, declared, job_schedule

COMPLETED = WorkflowExecutionStatus.COMPLETED
SECOND = timedelta(seconds=1)


@pytest.fixture
async def scope(temporal_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A schedule-id prefix of the test's own: the dev server is shared by the whole session. Its schedules are
    deleted after the test, so none fires on into later tests."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    yield prefix
    for schedule_id in await ids_in(temporal_env.client, prefix):
        await temporal_env.client.get_schedule_handle(schedule_id).delete()


def scoped(rows: Sequence[DeclaredSchedule], scope: str) -> list[DeclaredSchedule]:
    """`rows` with ids (and run ids) moved into `scope`."""
    return [dataclasses.replace(r, id=scope + r.id, workflow_id=f"{r.workflow_id}-{scope}") for r in rows]


async def ids_in(client: Client, scope: str) -> list[str]:
    """Every schedule id in `scope`, Conveyor's or not."""
    return sorted([s.id async for s in await client.list_schedules() if s.id.startswith(scope)])


async def runs_of(client: Client, schedule_id: str) -> list[WorkflowExecutionStatus | None]:
    """The status of every workflow `schedule_id` started."""
    return [run.status for run in (await runs_by_id(client, schedule_id)).values()]


async def runs_by_id(client: Client, schedule_id: str) -> dict[str, WorkflowExecution]:
    """Every workflow `schedule_id` started, by id (`<workflow id>-<fire time>`)."""
    return {w.id: w async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")}


async def listed(client: Client, scope: str, expected: list[str]) -> list[str]:
    """The schedule ids in `scope` once the listing shows `expected` (it is visibility: a create or delete shows
    a moment later); AssertionError naming the last listing after the deadline."""
    return await eventually(lambda: ids_in(client, scope), lambda ids: ids == expected)


async def fires(client: Client, schedule_id: str) -> int:
    """How many times the schedule has started a run."""
    desc = await describe(client, schedule_id)
    return desc.info.num_actions if desc else 0


def skipped(desc: ScheduleDescription | None) -> int:
    """How many fires the schedule skipped because its last run was still running."""
    return desc.info.num_actions_skipped_overlap if desc else 0


def every_second(scope: str, settings: Settings, name: str, to: str) -> DeclaredSchedule:
    """An email to `to` every second (a short interval: several fire times within a test)."""
    return DeclaredSchedule(
        id=f"{scope}{name}",
        workflow="SendEmail",
        input={"to": [to], "subject": name, "text": "from a schedule"},
        task_queue=settings.task_queue,
        workflow_id=f"email-{scope}{name}",
        every=SECOND,
    )


async def test_apply_twice_creates_each_seed_schedule_once(
    temporal_env: WorkflowEnvironment, settings: Settings, scope: str
) -> None:
    settings = settings.model_copy(update={"ops_email": "ops@example.com"})
    client, rows = temporal_env.client, scoped(declared(settings), scope)
    first = await apply(client, rows, scope)
    second = await apply(client, rows, scope)
    assert sorted(first.created) == sorted(r.id for r in rows) and not first.updated
    assert sorted(second.unchanged) == sorted(r.id for r in rows) and not (second.created or second.updated)
    assert await listed(client, scope, sorted(r.id for r in rows)) == sorted(r.id for r in rows)

    report = await describe(client, f"{scope}daily-jobs-report")
    assert report is not None
    action = report.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("GenerateReport", settings.reports_task_queue)
    [arg] = client.data_converter.payload_converter.from_payloads(list(action.args))
    assert arg == {"report": "jobs-summary", "format": "pdf", "deliver_to": ["ops@example.com"]}
    ReportJob.model_validate(arg)  # the report job's own contract accepts it
    assert [c.comment for c in report.schedule.spec.calendars] == ["0 2 * * *"]
    assert report.info.next_action_times[0].hour == 2
    digest = await describe(client, f"{scope}hourly-digest")
    assert digest is not None and digest.schedule.state.paused, "the example broadcast starts paused"


async def test_changed_cron_updates_in_place_and_keeps_operator_pause(
    temporal_env: WorkflowEnvironment, settings: Settings, scope: str
) -> None:
    client = temporal_env.client
    [cleanup] = scoped([r for r in declared(settings) if r.id == "weekly-cleanup"], scope)
    await apply(client, [cleanup], scope)
    created = await describe(client, cleanup.id)
    assert created is not None
    await client.get_schedule_handle(cleanup.id).pause(note="disk migration")

    changed = await apply(client, [dataclasses.replace(cleanup, cron=("30 4 * * 6",))], scope)
    assert changed.updated == [cleanup.id]
    updated = await describe(client, cleanup.id)
    assert updated is not None
    assert [c.comment for c in updated.schedule.spec.calendars] == ["30 4 * * 6"]
    assert updated.info.created_at == created.info.created_at, "updated in place, not re-created"
    assert updated.schedule.state.paused and updated.schedule.state.note == "disk migration"


async def test_changed_input_updates_in_place_and_runs_with_the_new_input(
    temporal_env: WorkflowEnvironment, settings: Settings, scope: str
) -> None:
    client = temporal_env.client
    [report] = scoped([r for r in declared(settings) if r.id == "daily-jobs-report"], scope)
    await apply(client, [report], scope)
    created = await describe(client, report.id)
    assert created is not None
    changed = dataclasses.replace(report, input={**report.input, "format": "csv"})

    done = await apply(client, [changed], scope)
    assert done.updated == [report.id] and not (done.created or done.deleted)
    updated = await describe(client, report.id)
    assert updated is not None and isinstance(updated.schedule.action, ScheduleActionStartWorkflow)
    [arg] = client.data_converter.payload_converter.from_payloads(list(updated.schedule.action.args))
    assert arg == {**report.input, "format": "csv"}
    assert updated.info.created_at == created.info.created_at, "updated in place, not re-created"
    assert (await apply(client, [changed], scope)).unchanged == [report.id]


async def test_undeclared_conveyor_schedule_is_removed_and_foreign_one_untouched(
    temporal_env: WorkflowEnvironment, settings: Settings, scope: str
) -> None:
    client = temporal_env.client
    keep, drop = scoped([r for r in declared(settings) if r.id in ("daily-jobs-report", "weekly-cleanup")], scope)
    await apply(client, [keep, drop], scope)
    await listed(client, scope, sorted([keep.id, drop.id]))  # apply finds what to remove in the listing
    foreign = f"{scope}someone-elses"
    await client.create_schedule(
        foreign,
        Schedule(
            action=ScheduleActionStartWorkflow("Other", id="other", task_queue="elsewhere"),
            spec=ScheduleSpec(cron_expressions=["0 1 * * *"]),
        ),
    )
    await listed(client, scope, sorted([keep.id, drop.id, foreign]))
    done = await apply(client, [keep], scope)
    assert done.deleted == [drop.id] and done.unchanged == [keep.id]
    assert await listed(client, scope, sorted([keep.id, foreign])) == sorted([keep.id, foreign])


async def test_trigger_with_temporal_binary_runs_the_job_and_its_email_arrives(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, scope: str
) -> None:
    to = f"scheduled-{uuid.uuid4().hex[:8]}@example.com"
    row = DeclaredSchedule(
        id=f"{scope}nightly-hello",
        workflow="SendEmail",
        input={"to": [to], "subject": "Nightly", "text": "from a schedule"},
        task_queue=settings.task_queue,
        workflow_id=f"email-{scope}nightly-hello",
        cron=("0 0 * * *",),
    )
    await apply(jobs.client, [row], scope)
    ran = await run(str(TEMPORAL), "schedule", "trigger", "--schedule-id", row.id,
                    "--address", settings.temporal_address)  # fmt: skip
    assert ran.code == 0, ran.err

    await eventually(lambda: runs_of(jobs.client, row.id), lambda runs: COMPLETED in runs, timeout=30)
    [message] = smtp_server.to(to)
    assert message["Subject"] == "Nightly" and message["X-Conveyor-Job-Id"].startswith(row.workflow_id)


async def test_failure_watch_schedule_runs_the_watcher_on_its_queues(
    jobs: Jobs, settings: Settings, scope: str
) -> None:
    [watch] = scoped([r for r in declared(settings) if r.id == "failure-watch"], scope)
    assert watch.input["task_queues"] == [
        settings.task_queue,
        settings.sms_task_queue,
        settings.reports_task_queue,
        settings.images_task_queue,
    ]
    await apply(jobs.client, [watch], scope)
    await jobs.client.get_schedule_handle(watch.id).trigger()
    await eventually(lambda: runs_of(jobs.client, watch.id), lambda runs: COMPLETED in runs, timeout=30)


async def test_paused_schedule_does_not_fire_until_unpaused(jobs: Jobs, settings: Settings, scope: str) -> None:
    row = DeclaredSchedule(
        id=f"{scope}every-second",
        workflow="Cleanup",
        input={},
        task_queue=settings.task_queue,
        workflow_id=f"cleanup-{scope}every-second",
        every=timedelta(seconds=1),
        paused=True,
    )
    await apply(jobs.client, [row], scope)
    await asyncio.sleep(2.5)  # noqa: sleep-ok  (nothing happening is the point: 2 firings would have come by now)
    assert await runs_of(jobs.client, row.id) == []
    address = ["--schedule-id", row.id, "--address", settings.temporal_address]
    assert (await run(str(TEMPORAL), "schedule", "toggle", "--unpause", *address)).code == 0
    await eventually(lambda: runs_of(jobs.client, row.id), bool, timeout=30)
    assert (await run(str(TEMPORAL), "schedule", "toggle", "--pause", *address, "--reason", "enough")).code == 0
    desc = await describe(jobs.client, row.id)
    assert desc is not None and desc.schedule.state.paused and desc.schedule.state.note == "enough"


async def test_two_workers_and_two_concurrent_applies_fire_once_per_fire_time(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, scope: str
) -> None:
    """Counted where a second firing would show: every run the server holds (a duplicate of a fire time would be a
    second run, under the same id or another), and every email the SMTP server got (a send is not idempotent)."""
    client = temporal_env.client
    to = f"tick-{uuid.uuid4().hex[:8]}@example.com"
    tick = job_schedule(
        f"{scope}tick", "email", {"to": [to], "subject": "tick", "text": "once"}, settings, every=SECOND
    )
    # Two deploys applying at once (two clients, as two processes would be): one schedule, both applies succeed.
    other = await Client.connect(settings.temporal_address, data_converter=client.data_converter)
    await asyncio.gather(apply(client, [tick], scope), apply(other, [tick], scope))
    assert await listed(client, scope, [tick.id]) == [tick.id]
    workers = [await start_worker(settings), await start_worker(settings)]
    try:
        await eventually(lambda: fires(client, tick.id), lambda n: n >= 4, timeout=60)
        await client.get_schedule_handle(tick.id).pause(note="enough")
        fired = await fires(client, tick.id)  # final: a paused schedule fires no more
        await eventually(lambda: runs_of(client, tick.id), lambda r: r.count(COMPLETED) >= fired, timeout=60)
    finally:
        for w in workers:
            await stop_worker(w)
    runs = [w async for w in client.list_workflows(f"TemporalScheduledById = '{tick.id}'")]
    per_fire_time = Counter(fire_time(tick, w.id) for w in runs)
    assert len(runs) == fired and set(per_fire_time.values()) == {1}, f"{fired} fires, runs: {per_fire_time}"
    mailed = Counter(m[JOB_ID_HEADER] for m in smtp_server.to(to))
    assert mailed == Counter({w.id: 1 for w in runs}), "one email per fire time, whatever the workers and applies"


async def test_a_fire_while_the_last_run_still_runs_is_skipped(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, scope: str
) -> None:
    to = f"slow-{uuid.uuid4().hex[:8]}@example.com"
    release = smtp_server.hold(to)
    row = every_second(scope, settings, "slow", to)
    assert row.overlap is ScheduleOverlapPolicy.SKIP  # the default
    await apply(jobs.client, [row], scope)
    skipping = await eventually(lambda: describe(jobs.client, row.id), lambda d: skipped(d) >= 2, timeout=30)
    await jobs.client.get_schedule_handle(row.id).pause()
    assert skipping is not None and skipping.info.num_actions == 1  # the held run; every later fire skipped
    release.set()
    runs = await eventually(lambda: runs_of(jobs.client, row.id), lambda r: r == [COMPLETED], timeout=30)
    assert runs == [COMPLETED] and len(smtp_server.to(to)) == 1


async def test_a_failed_run_pauses_a_pause_on_failure_schedule(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, scope: str
) -> None:
    gone = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    smtp_server.fail(gone, 550)  # a permanent refusal: the run fails at once, without retries
    row = dataclasses.replace(every_second(scope, settings, "fragile", gone), pause_on_failure=True)
    await apply(jobs.client, [row], scope)
    paused = await eventually(
        lambda: describe(jobs.client, row.id), lambda d: d is not None and d.schedule.state.paused
    )
    assert paused is not None and paused.info.num_actions >= 1
    runs = await eventually(lambda: runs_of(jobs.client, row.id), lambda r: len(r) == paused.info.num_actions)
    assert set(runs) == {WorkflowExecutionStatus.FAILED}, "paused at the failure, before another run"


def fire_time(row: DeclaredSchedule, run_id: str) -> datetime:
    """The fire time a run of `row` is for: Temporal appends it to the run's id (`...-2026-12-03T12:52:16Z`)."""
    return datetime.strptime(run_id.removeprefix(f"{row.workflow_id}-"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def fire_times_between(after: datetime, before: datetime, every: timedelta) -> list[datetime]:
    """The fire times of an interval schedule strictly between `after` (one of its fire times) and `before`."""
    times, t = [], after + every
    while t < before:
        times.append(t)
        t += every
    return times


async def describe_all(client: Client, rows: Sequence[DeclaredSchedule]) -> list[ScheduleDescription | None]:
    """The schedules of `rows`, described at once."""
    return list(await asyncio.gather(*(describe(client, row.id) for row in rows)))


CATCH_UP_EVERY = timedelta(seconds=2)
"""The catch-up test's interval: a schedule learns that a run it started has ended a moment after it has (more
under load), so a second between fire times left too little room to see that and still kill the server before
the next one (a fresh-clone run waited 30 s for such a moment, in vain)."""


def quiet(desc: ScheduleDescription | None) -> bool:
    """Whether a `CATCH_UP_EVERY` schedule has fired, knows every run it started has ended, and its next fire time
    is over half an interval off: far enough for a kill to come between the two."""
    if desc is None or not desc.info.recent_actions or desc.info.running_actions:
        return False
    return datetime.now(UTC) - desc.info.recent_actions[-1].scheduled_at < CATCH_UP_EVERY / 2


async def past(client: Client, row: DeclaredSchedule, moment: datetime) -> dict[str, WorkflowExecution]:
    """Every run of `row`, once it has acted on a fire time after `moment` (so on every earlier one: a schedule
    deals with its fire times in order) and is paused there, and every run it started has completed."""
    await eventually(
        lambda: describe(client, row.id),
        lambda d: d is not None and any(a.scheduled_at > moment for a in d.info.recent_actions),
        timeout=30,
    )
    await client.get_schedule_handle(row.id).pause(note="enough")
    started = await fires(client, row.id)  # final: a paused schedule starts no more
    return await eventually(
        lambda: runs_by_id(client, row.id), lambda r: [w.status for w in r.values()].count(COMPLETED) == started, 30
    )


async def test_fire_times_missed_while_the_server_was_down_run_once_it_is_back(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Conveyor's schedules (overlap SKIP, a one-hour catch-up window) catch up after an outage with one run, for
    the earliest fire time missed; one declared with BUFFER_ALL runs every missed fire time once. The server is a
    dev server of the test's own on a SQLite file (as `conveyor dev` runs it), SIGKILLed over two or three fire times;
    the worker is a `conveyor worker` process riding out the outage; the runs' emails are counted too."""
    settings = settings_for(
        temporal_env, smtp_server, tmp_path,
        temporal_address=f"127.0.0.1:{free_port()}", dev_ui_port=free_port(),  # our own server, not the shared one
    )  # fmt: skip
    tag = uuid.uuid4().hex[:8]

    def email_on_schedule(name: str, **policy: Any) -> DeclaredSchedule:
        job = {"to": [f"{name}-{tag}@example.com"], "subject": name, "text": "catching up"}
        return job_schedule(name, "email", job, settings, every=CATCH_UP_EVERY, **policy)

    skip = email_on_schedule("catch-up")  # as Conveyor declares every schedule
    each = email_on_schedule("catch-up-each", overlap=ScheduleOverlapPolicy.BUFFER_ALL)
    assert (skip.overlap, skip.catchup_window) == (ScheduleOverlapPolicy.SKIP, timedelta(hours=1))
    async with own_server(settings) as servers, worker_process(settings, tmp_path / "worker.log"):
        client = await wait_for_server(settings, servers[0])
        await apply(client, [skip, each])
        # Killed between fire times with no run in flight (one still running at the restart would make SKIP skip
        # every missed fire time, rightly: that is the overlap it exists for, not the catch-up tested here).
        await eventually(lambda: describe_all(client, [skip, each]), lambda d: all(map(quiet, d)), timeout=30)
        servers[0].kill()  # SIGKILL, as a crash or an OOM kill would
        servers[0].wait()
        down = datetime.now(UTC)
        await asyncio.sleep(2.5 * CATCH_UP_EVERY.total_seconds())  # noqa: sleep-ok (the outage: 2+ fire times pass)
        restart = datetime.now(UTC)
        servers.append(start_server(settings))
        client = await wait_for_server(settings, servers[-1])
        runs = {row.id: await past(client, row, restart) for row in (skip, each)}
        final = {row.id: await describe(client, row.id) for row in (skip, each)}

    for row in (skip, each):
        done = final[row.id]
        assert done is not None and done.info.num_actions_missed_catchup_window == 0
        last_before = max(fire_time(row, i) for i, w in runs[row.id].items() if w.start_time < down)
        missed = fire_times_between(last_before, restart, CATCH_UP_EVERY)
        assert len(missed) >= 2, f"the outage spanned {missed}: too short to test catching up"
        ran = {fire_time(row, i): w for i, w in runs[row.id].items() if fire_time(row, i) in missed}
        mailed = [fire_time(row, m[JOB_ID_HEADER]) for m in smtp_server.to(row.input["to"][0])]
        assert all(w.start_time >= restart for w in ran.values()), "a missed fire time runs once the server is back"
        if row is skip:
            assert sorted(ran) == missed[:1], f"one run, for the earliest missed fire time of {missed}"
            assert [t for t in mailed if t in missed] == missed[:1]
            assert skipped(done) >= len(missed) - 1, "the other missed fire times count as skipped"
        else:
            assert sorted(ran) == missed, "BUFFER_ALL: every missed fire time runs"
            assert sorted(t for t in mailed if t in missed) == missed, "and sends its email once"
