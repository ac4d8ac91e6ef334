"""Bad input that gets past the edge, and input too big for it.

Poison inside a job (a template that does not render, a recipient the server refuses for good) fails that job
at once, non-retryable, with an alert, and leaves the rest of its batch alone. A payload too big for Temporal is
refused at the edge with a message saying what to do, and a report's result stays small however big the report
is, because results carry storage keys, never files.
"""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from conveyor import EmailJob, InvalidJobError, JobFailed, Jobs, ReportJob, Settings
from conveyor.cli.app import app
from conveyor.client import MAX_PAYLOAD_BYTES, BulkJob, JobHandle
from tests.reliability import figures
from tests.reliability.mail import message_ids, note, recipients
from tests.reliability.processes import settings_env
from tests.smtp_server import SmtpServer
from tests.started import started_besides
from tests.webhook import Webhook
from worker.build import build_workers
from worker.run import running


async def test_poison_jobs_fail_fast_with_an_alert_and_spare_their_batch(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer, webhook: Webhook
) -> None:
    [ops, rejected] = recipients("poison", 2)
    good = recipients("batch", 20)
    smtp_server.fail(rejected, 550)
    settings = settings.model_copy(update={"ops_email": ops, "alert_webhook_url": webhook.url})
    items = [BulkJob("email", note(address)) for address in good]
    items.insert(5, BulkJob("email", EmailJob(to=[rejected], template="welcome")))  # `name` missing: won't render
    items.insert(10, BulkJob("email", note(rejected)))
    jobs = Jobs(temporal_env.client, settings)
    async with running(build_workers(temporal_env.client, settings)):
        handles = [h for h in await jobs.bulk(items) if isinstance(h, JobHandle)]
        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles), return_exceptions=True), 60)
        statuses = [await jobs.status(h.id) for h in handles]

    failed = {h.id: o.type for h, o in zip(handles, outcomes, strict=True) if isinstance(o, JobFailed)}
    assert sorted(failed.values()) == ["RecipientRejected", "TemplateError"]
    poisoned = [s for s in statuses if s.id in failed]
    assert all(s.attempts == 1 for s in poisoned), "never retried"
    seconds = max((s.closed_at - s.created_at).total_seconds() for s in poisoned if s.closed_at)
    alerted = {p["job_id"] for p in webhook.posts} & set(failed)
    assert alerted == set(failed) and len(smtp_server.to(ops)) == 2
    delivered = message_ids(smtp_server, good)
    assert len(delivered) == len(good) and all(len(v) == 1 for v in delivered.values())
    figures.record(
        "poison input in a batch", jobs=len(handles), poisoned=len(failed),
        most_attempts=max(s.attempts for s in poisoned),
        slowest_failure_s=round(seconds, 2), alerts=len(alerted), others_delivered=len(delivered),
    )  # fmt: skip


def big_csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["n", "label", "note"]] + [[str(i), f"row {i}", "x" * 40] for i in range(rows)])
    return path


async def test_oversized_input_is_refused_at_the_edge_and_results_stay_small(
    temporal_env: WorkflowEnvironment, jobs: Jobs, settings: Settings, tmp_path: Path
) -> None:
    big = "x" * (MAX_PAYLOAD_BYTES + 1)
    to = recipients("big", 1)
    with pytest.raises(InvalidJobError, match=f"over the {MAX_PAYLOAD_BYTES} limit; store large files"):
        await jobs.email({"to": to, "subject": "big", "text": big})
    # The CLI refuses it the same way, before connecting (exit 2); in a thread, since it runs its own event loop.
    ran = await asyncio.to_thread(
        CliRunner().invoke, app, ["send", "email", "--to", to[0], "--subject", "big", "--text", big],
        env=settings_env(settings),
    )  # fmt: skip
    assert ran.exit_code == 2 and f"over the {MAX_PAYLOAD_BYTES} limit" in ran.output
    # Past the edge (a raw Temporal client), the server itself refuses at once: no workflow, no retry loop.
    began = time.monotonic()
    with pytest.raises(RPCError, match=r"(?i)size|limit"):
        await temporal_env.client.start_workflow(
            "SendEmail", {"to": to, "subject": "big", "text": "x" * 3_000_000},
            id=f"email-raw-big-{to[0]}", task_queue=settings.task_queue,
        )  # fmt: skip
    refused_s = time.monotonic() - began
    started = await started_besides(jobs)  # read once a sentinel enqueued after the refusals shows
    assert started == set()

    report = await jobs.report(ReportJob(report="csv-file", params={"path": str(big_csv(tmp_path / "big.csv", 30_000))},
                                         format="csv"))  # fmt: skip
    result = await report.result()
    payloads = [
        len(event.activity_task_completed_event_attributes.result.SerializeToString())
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        else len(event.workflow_execution_completed_event_attributes.result.SerializeToString())
        async for event in report.workflow.fetch_history_events()
        if event.event_type
        in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    ]
    figures.record(
        "oversized payloads", refused_at_edge="client+CLI", server_refused_s=round(refused_s, 2),
        workflows_started=len(started), report_bytes=result.size, largest_result_payload_bytes=max(payloads),
    )  # fmt: skip
    assert result.size > 1_000_000 and max(payloads) < 2_000
