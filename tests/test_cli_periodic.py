"""The command line of schedules, broadcasts and events, run as the real `conveyor` executable."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.client import ScheduleActionStartWorkflow, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, Settings
from tests.cli import conveyor, start_worker, stop_worker
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from worker.schedules import declared


async def test_schedules_apply_is_idempotent_and_list_shows_them(jobs: Jobs, settings: Settings) -> None:
    first = await conveyor(settings, "schedules", "apply")
    assert first.code == 0, first.err
    second = await conveyor(settings, "schedules", "apply")
    assert second.code == 0, second.err
    names = ["daily-jobs-report", "hourly-digest", "weekly-cleanup", "failure-watch"]
    assert sorted(second.out.split()) == sorted([*["unchanged"] * len(names), *names])
    listed = await conveyor(settings, "schedules", "list")
    assert listed.code == 0, listed.err
    assert "hourly-digest  paused" in listed.out and "0 2 * * * UTC" in listed.out and "never ran" in listed.out


async def test_worker_with_apply_schedules_applies_them_and_runs_what_they_start(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """`conveyor worker --apply-schedules` (a deploy's one command): the declared schedules exist once it is up,
    on its task queues, and the same process runs the jobs they start. A server of the test's own: the declared
    schedules keep their real ids."""
    settings = settings_for(own_temporal, smtp_server, tmp_path)
    client = own_temporal.client
    names = sorted(r.id for r in declared(settings))

    async def schedule_ids() -> list[str]:
        return sorted([s.id async for s in await client.list_schedules()])

    assert await schedule_ids() == []
    worker = await start_worker(settings, "--apply-schedules")
    try:
        await eventually(schedule_ids, lambda ids: ids == names, timeout=60)
        watch = client.get_schedule_handle("failure-watch")
        action = (await watch.describe()).schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == settings.task_queue
        await watch.trigger()

        async def watch_runs() -> list[WorkflowExecutionStatus | None]:
            return [w.status async for w in client.list_workflows("TemporalScheduledById = 'failure-watch'")]

        await eventually(watch_runs, lambda runs: runs == [WorkflowExecutionStatus.COMPLETED], timeout=60)
    finally:
        await stop_worker(worker)


async def test_broadcast_command_sends_to_a_static_list(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    a, b = (f"cli-{n}-{uuid.uuid4().hex[:6]}@example.com" for n in "ab")
    sent = await conveyor(settings, "broadcast", "--source", f"static:{a},{b}", "--template", "newsletter",
                          "--var", "title=Launch")  # fmt: skip
    assert sent.code == 0, sent.err
    waited = await conveyor(settings, "wait", sent.out.strip())
    assert waited.code == 0, waited.err
    assert [m["Subject"] for m in smtp_server.to(a) + smtp_server.to(b)] == ["Launch", "Launch"]


async def test_broadcast_and_event_refuse_bad_input_with_exit_2(settings: Settings, tmp_path: Path) -> None:
    bad_template = await conveyor(settings, "broadcast", "--source", "csv:x.csv", "--template", "../etc")
    assert bad_template.code == 2 and "template" in bad_template.err and bad_template.err.count("\n") == 1
    no_email = await conveyor(settings, "event", "user.created", "--user-id", "42")
    assert no_email.code == 2 and "email" in no_email.err
