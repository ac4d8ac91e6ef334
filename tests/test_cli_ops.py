"""The operations commands run as the real `conveyor` executable: bulk from CSV, failed, retry, cancel, run-now, list,
stats."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, JobState, Settings
from tests.cli import BIN, conveyor, env_for
from tests.conftest import settings_for
from tests.readback import priority_of
from tests.smtp_server import SmtpServer
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running


async def test_csv_bulk_skips_the_bad_row_and_reports_it(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    csv = tmp_path / "people.csv"
    csv.write_text(f"email,name\nann-{tag}@example.com,Ann\nnot-an-address,Nobody\nbob-{tag}@example.com,Bob\n")
    ran = await conveyor(settings, "send", "email", "--from-csv", str(csv), "--template", "welcome")
    assert ran.code == 2
    assert "line 3" in ran.err and "enqueued 2 of 3" in ran.err
    ids = ran.out.split()
    assert len(ids) == 2
    for job_id in ids:
        await jobs.result(job_id)
    [ann] = smtp_server.to(f"ann-{tag}@example.com")
    assert ann["Subject"] == "Welcome to Conveyor, Ann!"


async def test_failed_retry_cancel_list_stats(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # A server of its own, so `stats` counts exactly this test's jobs.
    settings = settings_for(own_temporal, smtp_server, tmp_path)
    async with running(build_workers(own_temporal.client, settings)):
        await failed_retry_cancel_list_stats(own_temporal.client, settings, smtp_server)


async def failed_retry_cancel_list_stats(client: Client, settings: Settings, smtp_server: SmtpServer) -> None:
    gone = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    smtp_server.fail(gone, 550)
    sent = await conveyor(settings, "send", "email", "--to", gone, "--subject", "x", "--text", "y", "--priority", "1")
    job_id = sent.out.strip()
    assert (await conveyor(settings, "wait", job_id)).code == 1
    assert await priority_of(Jobs(client, settings), job_id) == 1  # --priority reached Temporal

    async def dead_letters() -> list[dict[str, object]]:
        listed = await conveyor(settings, "failed", "--kind", "email", "--since", "5m", "--json")
        return list(json.loads(listed.out))

    rows = await eventually(dead_letters, lambda rows: any(r["id"] == job_id for r in rows))
    [row] = [r for r in rows if r["id"] == job_id]
    assert row["failure"] == {"type": "RecipientRejected", "message": row["failure"]["message"]}  # type: ignore[index]

    smtp_server.heal(gone)
    retried = await conveyor(settings, "retry", job_id)
    assert retried.code == 0 and f"retrying {job_id}" in retried.out
    assert (await conveyor(settings, "wait", job_id)).code == 0
    again = await conveyor(settings, "retry", job_id)
    assert again.code == 1 and "completed" in again.err
    assert (await conveyor(settings, "retry")).code == 2

    later = await conveyor(settings, "send", "email", "--to", gone, "--subject", "x", "--text", "y", "--delay", "1h")
    status = json.loads((await conveyor(settings, "status", later.out.strip(), "--json")).out)
    assert status["state"] == "scheduled"
    delay = datetime.fromisoformat(status["starts_at"]) - datetime.fromisoformat(status["created_at"])
    assert timedelta(minutes=59) < delay <= timedelta(hours=1), delay  # --delay read back
    cancelled = await conveyor(settings, "cancel", later.out.strip())
    assert cancelled.code == 0
    assert (await conveyor(settings, "wait", later.out.strip())).code == 1

    async def found() -> list[dict[str, object]]:
        return list(json.loads((await conveyor(settings, "list", "--recipient", gone, "--json")).out))

    listed = await eventually(found, lambda rows: len(rows) == 2)
    assert {(r["id"], r["state"]) for r in listed} == {(job_id, "completed"), (later.out.strip(), "cancelled")}
    email: Counter[str] = Counter()
    for states in json.loads((await conveyor(settings, "stats", "--json")).out)["counts"]["email"].values():
        email.update(states)  # summed over task queues
    # Jobs, by their latest run: the retried job counts once, completed.
    assert {state: n for state, n in email.items() if n} == {"completed": 1, "cancelled": 1}


async def email_row(watch: asyncio.subprocess.Process, **expected: int) -> None:
    """Read `conveyor stats --watch` output until its email row shows the `expected` counts (state=count; each
    refresh redraws the table: kind, queue, then one column per state)."""
    assert watch.stdout is not None
    async with asyncio.timeout(60):
        while True:
            line = (await watch.stdout.readline()).decode()
            assert line, "the watch exited"
            cells = [c.strip() for c in line.split("│")]
            if "email" not in cells:
                continue
            counts = [int(c) for c in cells if c.isdigit()][-len(JobState) :]
            if len(counts) < len(JobState):
                continue  # a partly redrawn line
            shown = dict(zip((s.name.lower() for s in JobState), counts, strict=True))
            if all(shown.get(state) == n for state, n in expected.items()):
                return


def ctrl_c_enabled() -> None:
    """In the child before it runs: SIGINT as a terminal delivers it. A test run as a background job (CI scripts
    often are) inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_retry_all_failed_while_stats_watch_follows(
    own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(own_temporal, smtp_server, tmp_path)  # a server of its own: exact counts
    gone = [f"gone-{uuid.uuid4().hex[:6]}@example.com" for _ in range(2)]
    for to in gone:
        smtp_server.fail(to, 550)
    # A terminal as Rich sees one, so the watch redraws as it goes instead of printing once at the end.
    terminal = env_for(settings) | {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "240"}
    async with running(build_workers(own_temporal.client, settings)):
        ids = [(await conveyor(settings, "send", "email", "--to", to, "--subject", "x", "--text", "y")).out.strip()
               for to in gone]  # fmt: skip
        assert [(await conveyor(settings, "wait", i)).code for i in ids] == [1, 1]
        watch = await asyncio.create_subprocess_exec(
            str(BIN / "conveyor"), "stats", "--watch", env=terminal, stdout=asyncio.subprocess.PIPE,
            preexec_fn=ctrl_c_enabled,
        )  # fmt: skip
        try:
            await email_row(watch, completed=0, failed=2)

            async def dead_letters() -> list[dict[str, object]]:
                return list(json.loads((await conveyor(settings, "failed", "--json")).out))

            await eventually(dead_letters, lambda rows: len(rows) == 2)  # what --all-failed will find
            for to in gone:
                smtp_server.heal(to)
            retried = await conveyor(settings, "retry", "--all-failed", "--kind", "email")
            assert retried.code == 0 and "retrying 2 failed job(s)" in retried.out
            assert [(await conveyor(settings, "wait", i)).code for i in ids] == [0, 0]
            await email_row(watch, completed=2, failed=0)  # jobs by their latest run: the retried ones completed
        finally:
            watch.send_signal(signal.SIGINT)
            # Read what it still prints while it exits: an unread pipe fills, and its last redraw would block it.
            await asyncio.wait_for(watch.communicate(), 30)
    assert [len(smtp_server.to(to)) for to in gone] == [1, 1]


async def test_run_now_starts_a_delayed_job(jobs: Jobs, settings: Settings) -> None:
    sent = await conveyor(settings, "send", "email", "--to", "ann@example.com", "--subject", "x", "--text", "y",
                          "--delay", "1h")  # fmt: skip
    job_id = sent.out.strip()
    ran = await conveyor(settings, "run-now", job_id)
    assert (ran.code, ran.out.strip()) == (0, f"running {job_id} now")
    await asyncio.wait_for(jobs.result(job_id), 60)  # not in an hour (a refusal: tests/test_jobs_page.py)
