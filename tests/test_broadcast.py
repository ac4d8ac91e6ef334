"""Broadcasts end to end: a real dev server, real workers (in-process, or processes killed on purpose), and the
STARTTLS + AUTH SMTP server counting what arrives."""

from __future__ import annotations

import csv
import re
import uuid
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.broadcast import recipient_key
from contracts.progress import STATUS_QUERY, Progress
from conveyor import Jobs, Settings
from tests.cli import start_worker, stop_worker
from tests.smtp_server import SmtpServer
from tests.waiting import eventually


def recipients_csv(path: Path, count: int) -> list[str]:
    """A CSV of `count` new recipients with a `name` column; their addresses."""
    tag = uuid.uuid4().hex[:8]
    addresses = [f"r{i}-{tag}@example.com" for i in range(count)]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "name"])
        writer.writerows([a, f"Reader {i}"] for i, a in enumerate(addresses))
    return addresses


def delivered(smtp: SmtpServer, addresses: list[str]) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of every message the server accepted for `addresses`, duplicates included."""
    wanted = set(addresses)
    return [(r, m.message["Message-ID"].strip()) for m in smtp.handler.received for r in m.rcpt_tos if r in wanted]


async def test_broadcast_reaches_every_recipient_once_and_reports_bad_ones(
    jobs: Jobs, temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    addresses = recipients_csv(tmp_path / "list.csv", 1000)
    bad = addresses[417]
    smtp_server.fail(bad, 550)
    with (tmp_path / "list.csv").open("a") as f:
        f.write("not-an-address,Nobody\n")
    handle = await jobs.broadcast(
        {"source": f"csv:{tmp_path / 'list.csv'}", "message": {"template": "newsletter", "context": {"title": "News"}},
         "continue_every": 300},
    )  # fmt: skip
    result = await handle.result()

    assert (result.sent, result.failed) == (999, 2)
    assert {f.address for f in result.failures} == {bad, "not-an-address"}
    assert "550" in next(f.reason for f in result.failures if f.address == bad)
    got = delivered(smtp_server, addresses)
    assert len(got) == 999 and {r for r, _ in got} == set(addresses) - {bad}
    assert {m for _, m in got} == {f"<{recipient_key(handle.id, a)}@conveyor.test>" for a in addresses if a != bad}
    [message] = [m.message for m in smtp_server.handler.received if addresses[0] in m.rcpt_tos]
    text = message.get_body(("plain",))
    assert message["Subject"] == "News" and text is not None and "Hi Reader 0," in text.get_content()

    first = temporal_env.client.get_workflow_handle(handle.id, run_id=handle.workflow.first_execution_run_id)
    assert (await first.describe()).status is WorkflowExecutionStatus.CONTINUED_AS_NEW, "history stays bounded"
    status = await jobs.status(handle.id)
    assert status.state.value == "completed" and status.result is not None and status.result["sent"] == 999


BATCH_SIZE, PARALLEL_BATCHES = 50, 8
"""The killed broadcast's batches: what a kill may cost is counted in them."""


async def test_killed_worker_mid_broadcast_still_reaches_each_recipient_once(
    settings: Settings, temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A fan-out / fan-in always completes (celery#5630, celery#2922: a chord whose header task's worker died never
    fires its callback): the broadcast ends with each recipient counted once.

    "Once" is once per Message-ID: each recipient's message has one Message-ID, and every copy the SMTP server
    got carries it, so receivers drop a copy. A kill may cause copies: a batch killed after sending but before its
    heartbeat reached the server re-sends those recipients, so at most one batch's worth per batch in flight."""
    addresses = recipients_csv(tmp_path / "list.csv", 1000)
    jobs = Jobs(temporal_env.client, settings)
    worker = await start_worker(settings)
    try:
        handle = await jobs.broadcast(
            {"source": f"csv:{tmp_path / 'list.csv'}", "message": {"template": "newsletter"},
             "batch_size": BATCH_SIZE, "parallel_batches": PARALLEL_BATCHES},
        )  # fmt: skip

        async def sent_so_far() -> int:
            return len(delivered(smtp_server, addresses))

        await eventually(sent_so_far, lambda n: n >= 200, timeout=60)
        status = await handle.workflow.query(STATUS_QUERY, result_type=Progress)
        assert status.stage == "sending" and status.total == 1000 and status.unit == "recipients"
        shown = await jobs.status(handle.id)
        assert shown.detail is not None and re.fullmatch(r"\d+/1,000 recipients", shown.detail)
        await stop_worker(worker, kill=True)
        sent_before_restart = len(delivered(smtp_server, addresses))
        assert sent_before_restart < 1000, "the kill came mid-broadcast"
        worker = await start_worker(settings)
        result = await handle.result()
    finally:
        await stop_worker(worker)

    got = delivered(smtp_server, addresses)
    assert result.sent == 1000 and result.failed == 0
    assert {r for r, _ in got} == set(addresses), "every recipient got the message"
    ids_of = {r: {m for rr, m in got if rr == r} for r in addresses}
    assert all(ids_of[r] == {f"<{recipient_key(handle.id, r)}@conveyor.test>"} for r in addresses), (
        "one Message-ID per recipient, however often its batch ran"
    )
    copies = len(got) - 1000
    assert copies <= BATCH_SIZE * PARALLEL_BATCHES, f"{copies} copies: more than the batches in flight could re-send"
