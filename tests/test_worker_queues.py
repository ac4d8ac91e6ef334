"""`conveyor worker --queues`: a worker limited to some task queues polls only those, so report rendering can be
scaled apart from email and SMS; a queue name that is not Conveyor's fails at once, before anything connects."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from conveyor import EmailJob, Jobs, JobState, ReportJob, Settings
from tests.cli import BIN, env_for, run, stop_worker
from tests.smtp_server import free_port

POLLED = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def pollers(env: WorkflowEnvironment, queue: str) -> int:
    """How many pollers the server has seen on `queue`, workflow and activity tasks together."""
    total = 0
    for kind in POLLED:
        reply = await env.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind)
        )
        total += len(reply.pollers)
    return total


async def test_reports_only_worker_renders_reports_and_leaves_email_queued(
    temporal_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("id,name\n1,Ada\n2,Grace\n")
    jobs = Jobs(temporal_env.client, settings)
    email = await jobs.email(EmailJob(to=["not-yet@example.com"], subject="s", text="t"))
    report = await jobs.report(ReportJob(report="csv-file", params={"path": str(source)}, format="csv"))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            str(BIN / "conveyor"), "worker", "--queues", settings.reports_task_queue, env=env_for(settings),
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        result = await asyncio.wait_for(report.result(), 60)
        assert result.rows == 2
        assert await pollers(temporal_env, settings.reports_task_queue) > 0
        assert await pollers(temporal_env, settings.task_queue) == 0
        assert await pollers(temporal_env, settings.sms_task_queue) == 0
        assert (await jobs.status(email.id)).state is JobState.QUEUED, "the email queue has no worker"
    finally:
        await stop_worker(worker)
    assert f"worker polling {settings.reports_task_queue}\n" in log.read_text()


async def test_unknown_queue_exits_2_naming_the_queues_before_connecting(settings: Settings) -> None:
    env = env_for(settings) | {"CONVEYOR_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}  # nothing listens there
    ran = await run(str(BIN / "conveyor"), "worker", "--queues", f"{settings.task_queue},conveyor-pdf", env=env)
    assert ran.code == 2
    assert "unknown task queue(s) conveyor-pdf" in ran.err
    assert f"{settings.task_queue}, {settings.sms_task_queue}, {settings.reports_task_queue}" in ran.err
    assert "connect" not in ran.err.lower()
