"""Every process killed at once (the Temporal server, the worker, the producer's client) and started again: the
jobs' history and results are all still there, because they live in the server's database, not in a monitor's
memory (Flower's task list is lost when Flower restarts, flower#542).

The server is our own `temporal server start-dev` on its SQLite file, as `conveyor dev` runs it; the worker a
`conveyor worker` subprocess; the producer a fresh `Jobs` on a fresh client after the restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import JobFailed, Jobs, JobState
from conveyor.dev.stack import start_server, wait_for_server
from tests.conftest import settings_for
from tests.reliability.mail import note, recipients
from tests.reliability.processes import own_server, worker_process
from tests.smtp_server import SmtpServer, free_port


@pytest.mark.parametrize("shape", Shape)
async def test_history_and_results_survive_a_kill_of_every_process(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, shape: Shape
) -> None:
    """Job history and results survive a restart of every process (flower#542: Flower's task history is gone
    after it restarts)."""
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, standalone_activities=shape is Shape.ACTIVITY,
        temporal_address=f"127.0.0.1:{free_port()}", dev_ui_port=free_port(),  # our own server, not the shared one
    )  # fmt: skip
    sent_to, refused = recipients("restart", 2)
    smtp_server.fail(refused, 550)  # refused for good: a job that fails, to find again in the dead-letter view
    async with own_server(settings) as servers:
        async with worker_process(settings, tmp_path / "worker-1.log") as worker:
            jobs = Jobs(await wait_for_server(settings, servers[0]), settings)
            done, failing = await jobs.email(note(sent_to)), await jobs.email(note(refused))
            before = await done.result()
            with pytest.raises(JobFailed):
                await failing.result()
            servers[0].kill()  # SIGKILL, worker and server alike: nothing is flushed on the way down
            servers[0].wait()
            await worker.kill()
        servers.append(start_server(settings))
        again = Jobs(await wait_for_server(settings, servers[-1]), settings)
        async with worker_process(settings, tmp_path / "worker-2.log"):
            completed, failed = await again.status(done.id), await again.status(failing.id)
            assert completed.state is JobState.COMPLETED and completed.shape is shape
            assert await again.result(done.id) == before, "the result is read back, not recomputed"
            assert failed.state is JobState.FAILED and failed.failure is not None
            assert failed.failure.type == "RecipientRejected"
            assert [j.id for j in await again.failed(kind="email")] == [failing.id]
            listed = {j.id: j.state for j in await again.list(kind="email")}
            assert listed == {done.id: JobState.COMPLETED, failing.id: JobState.FAILED}
    assert len(smtp_server.to(sent_to)) == 1, "reading the history back runs nothing again"
