"""The Temporal server killed with SIGKILL mid-run and restarted on the same SQLite file: no job is lost, every
job completes. The worker (a `conveyor worker` subprocess) keeps running through the outage: its polls fail
and are retried by the SDK until the server answers again.

The server is our own `temporal server start-dev` subprocess (`conveyor.dev.stack.start_server`, as `conveyor dev` runs
it), on a file in a temporary home and free ports, so killing it touches no other test.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import Jobs, SmsJob
from conveyor.client import BulkJob, JobHandle
from conveyor.dev.stack import start_server, wait_for_server
from tests.conftest import settings_for
from tests.phones import unique_phones
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.mail import delivered, message_ids, note, recipients
from tests.reliability.processes import own_server, worker_process
from tests.smtp_server import SmtpServer, free_port
from tests.waiting import eventually


@pytest.mark.parametrize("shape", Shape)
async def test_server_killed_and_restarted_loses_no_job(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, size: Size, shape: Shape
) -> None:
    """The server SIGKILLed mid-run loses no job it accepted (a Redis broker without persistence loses every task
    it held: `python -m bench crash` shows it beside this)."""
    base = settings_for(
        temporal_env, smtp_server, tmp_path, sms_rate_per_second=1000, standalone_activities=shape is Shape.ACTIVITY,
        temporal_address=f"127.0.0.1:{free_port()}", dev_ui_port=free_port(),  # our own server, not the shared one
    )  # fmt: skip
    n_email, n_sms = size.server_crash_jobs, size.server_crash_jobs // 4
    to = recipients("server-crash", n_email)
    async with own_server(base) as servers, worker_process(base, tmp_path / "worker.log"):
        jobs = Jobs(await wait_for_server(base, servers[0]), base)
        items = [BulkJob("email", note(address)) for address in to]
        items += [BulkJob("sms", SmsJob(to=phone, body=f"crash {i}")) for i, phone in enumerate(unique_phones(n_sms))]
        started = await jobs.bulk(items)
        ids = [h.id for h in started if isinstance(h, JobHandle)]
        assert len(ids) == n_email + n_sms and {h.shape for h in started if isinstance(h, JobHandle)} == {shape}
        await eventually(lambda: delivered(smtp_server, to), lambda d: d >= n_email // 3, size.timeout)

        servers[0].kill()  # SIGKILL: no shutdown, whatever was in flight is cut off
        servers[0].wait()
        delivered_at_kill = await delivered(smtp_server, to)
        down = time.monotonic()
        servers.append(start_server(base))
        client = await wait_for_server(base, servers[-1])
        back = time.monotonic()
        results = await asyncio.wait_for(all_results(Jobs(client, base), ids), size.timeout)

    sms_sent = [json.loads(line)["job_id"] for line in base.sms_outbox.read_text().splitlines()]
    mail = message_ids(smtp_server, to)
    lost = (n_email - len(mail)) + (n_sms - len(set(sms_sent)))
    duplicated = sum(len(v) - 1 for v in mail.values()) + len(sms_sent) - len(set(sms_sent))
    failed = sum(isinstance(r, BaseException) for r in results)
    figures.record(
        f"server crash (SIGKILL, file DB), {shape.value} shape", jobs=n_email + n_sms,
        delivered_at_kill=delivered_at_kill,
        server_down_s=round(back - down, 1), lost=lost, duplicated=duplicated, failed=failed,
        recovered_s=round(time.monotonic() - back, 1),
    )  # fmt: skip
    assert lost == 0 and failed == 0 and len(results) == len(ids)
    assert delivered_at_kill < n_email, "the kill came after every email was sent: nothing was tested"
    assert all(len(set(v)) == 1 for v in mail.values()), "a re-sent email keeps its Message-ID"


async def all_results(jobs: Jobs, ids: list[str]) -> list[object]:
    """Every job's result or the error it ended with, read through `jobs` (on a fresh client: the old connection
    died with the server)."""
    return list(await asyncio.gather(*(jobs.result(i) for i in ids), return_exceptions=True))
