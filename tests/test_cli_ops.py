"""The operations commands run as the real `conveyor` executable: bulk from CSV, failed, retry, cancel, list, stats."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from conveyor import Jobs, Settings
from tests.cli import conveyor
from tests.smtp_server import SmtpServer
from tests.waiting import eventually


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


async def test_failed_retry_cancel_list_stats(jobs: Jobs, settings: Settings, smtp_server: SmtpServer) -> None:
    gone = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    smtp_server.fail(gone, 550)
    sent = await conveyor(settings, "send", "email", "--to", gone, "--subject", "x", "--text", "y", "--priority", "1")
    job_id = sent.out.strip()
    assert (await conveyor(settings, "wait", job_id)).code == 1

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
    cancelled = await conveyor(settings, "cancel", later.out.strip())
    assert cancelled.code == 0
    assert (await conveyor(settings, "wait", later.out.strip())).code == 1

    async def found() -> list[dict[str, object]]:
        return list(json.loads((await conveyor(settings, "list", "--recipient", gone, "--json")).out))

    listed = await eventually(found, lambda rows: len(rows) == 2)
    assert {(r["id"], r["state"]) for r in listed} == {(job_id, "completed"), (later.out.strip(), "cancelled")}
    email = json.loads((await conveyor(settings, "stats", "--json")).out)["counts"]["email"]
    assert email[settings.task_queue]["completed"] >= 1 and email[settings.task_queue]["cancelled"] >= 1
