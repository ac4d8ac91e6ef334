"""Stopping a worker safely: SIGTERM to `conveyor worker` lets the running send finish and exits 0; a send that
outlives the graceful timeout is cut off at once, the process still exits 0, and the job completes on the next
worker. No job is lost and none is sent twice."""

from __future__ import annotations

import asyncio
import signal
import uuid

from temporalio.testing import WorkflowEnvironment

from conveyor import EmailJob, Jobs, JobState, JobStatus, Settings
from tests.cli import BIN, env_for
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running

SMTP_TIMEOUT = 120
"""The worker's SMTP timeout here: longer than the test's deadlines, so a worker that waited for a held send
instead of cutting it off would miss them."""


def worker_env(settings: Settings, grace_seconds: float) -> dict[str, str]:
    """`conveyor worker` on the test's queues, sending through the test's SMTP server."""
    assert settings.smtp_password is not None and settings.smtp_ca_file is not None
    return env_for(settings) | {
        "CONVEYOR_SMTP_HOST": settings.smtp_host,
        "CONVEYOR_SMTP_PORT": str(settings.smtp_port),
        "CONVEYOR_SMTP_TLS": settings.smtp_tls.value,
        "CONVEYOR_SMTP_USERNAME": settings.smtp_username or "",
        "CONVEYOR_SMTP_PASSWORD": settings.smtp_password.get_secret_value(),
        "CONVEYOR_SMTP_CA_FILE": str(settings.smtp_ca_file),
        "CONVEYOR_SMTP_TIMEOUT": str(SMTP_TIMEOUT),
        "CONVEYOR_GRACEFUL_SHUTDOWN_SECONDS": str(grace_seconds),
    }


async def start_worker(settings: Settings, grace_seconds: float) -> asyncio.subprocess.Process:
    """`conveyor worker`, once it logged that it polls."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "conveyor"), "worker", env=worker_env(settings, grace_seconds), stderr=asyncio.subprocess.PIPE
    )
    await read_until(proc, "worker polling")
    return proc


async def read_until(proc: asyncio.subprocess.Process, text: str, timeout: float = 30) -> None:
    """Read the process's log lines until one contains `text`."""
    assert proc.stderr is not None
    async with asyncio.timeout(timeout):
        while text not in (line := (await proc.stderr.readline()).decode()):
            assert line, f"the worker exited before logging {text!r}"


async def sigterm_mid_send(
    env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, grace_seconds: float
) -> tuple[asyncio.subprocess.Process, str, str]:
    """A `conveyor worker` sent SIGTERM while it sends an email held at the SMTP server (RCPT); the worker, the
    job id and the held address (release it with `smtp_server.handler.holds[address].set()`).

    The signal goes once the SMTP server has the send's RCPT, not once the job is `running` (which the status says
    as soon as the activity is scheduled, before the send began)."""
    jobs = Jobs(env.client, settings)
    worker = await start_worker(settings, grace_seconds)
    to = f"slow-{uuid.uuid4().hex[:8]}@example.com"
    smtp_server.hold(to)
    handle = await jobs.email(EmailJob(to=[to], subject="Slow", text="t"))

    async def attempts() -> int:
        return smtp_server.attempts(to)

    await eventually(attempts, lambda n: n >= 1, timeout=30)
    worker.send_signal(signal.SIGTERM)
    return worker, handle.id, to


async def finished_by_next_worker(env: WorkflowEnvironment, settings: Settings, job_id: str) -> JobStatus:
    """The job's status once a fresh worker (in this process) has taken it over and finished it."""
    jobs = Jobs(env.client, settings)
    async with running(build_workers(env.client, settings)):
        await asyncio.wait_for(jobs.result(job_id), 60)
    return await jobs.status(job_id)


async def test_sigterm_lets_the_running_send_finish_and_exits_0(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer
) -> None:
    worker, job_id, to = await sigterm_mid_send(temporal_env, settings, smtp_server, grace_seconds=20)
    await read_until(worker, "stopping: finishing running activities")
    smtp_server.handler.holds[to].set()  # the server answers now: the send finishes during the shutdown
    async with asyncio.timeout(20):
        assert await worker.wait() == 0
    assert len(smtp_server.to(to)) == 1  # sent during the shutdown
    # The job's last step (recording the result) is a workflow task the stopping worker no longer polls for:
    # the next worker finishes the job, without sending again.
    status = await finished_by_next_worker(temporal_env, settings, job_id)
    assert status.state is JobState.COMPLETED and status.attempts == 1
    assert len(smtp_server.to(to)) == 1


async def test_send_outliving_the_grace_period_completes_on_the_next_worker(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer
) -> None:
    worker, job_id, to = await sigterm_mid_send(temporal_env, settings, smtp_server, grace_seconds=1)
    # The send is cut off, not waited for: the worker exits while the SMTP server still holds the send (it would
    # hold it 60 s, and the worker's SMTP timeout is 120 s), so a worker that waited would miss this deadline.
    async with asyncio.timeout(45):
        assert await worker.wait() == 0
    assert not smtp_server.handler.holds[to].is_set() and smtp_server.to(to) == []
    smtp_server.handler.holds[to].set()
    status = await finished_by_next_worker(temporal_env, settings, job_id)
    assert status.state is JobState.COMPLETED and status.attempts == 2
    assert len(smtp_server.to(to)) == 1
