"""The report job's activity: pull rows from the report's source, render them to a file, store it.

Rendering is CPU-bound and reportlab blocks, so it runs in this class's own thread pool (sized by the reports
worker's concurrency), off the event loop that email and SMS activities share. The activity meanwhile heartbeats
the rows done, which `conveyor status` shows; a worker that dies stops heartbeating, and the render starts again
on another worker after the policy's heartbeat timeout.

No resume from a checkpoint: a reportlab document lives in one process until it is saved, so a half-rendered PDF
cannot be continued elsewhere, and CSV renders at ~100,000 rows a second, so starting over costs little.
Only the storage key, never the file, travels in payloads (Temporal's 2 MB limit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from pydantic import BaseModel, SecretStr
from temporalio import activity
from temporalio.client import Client

import activities.reports.builtin  # registers the built-in reports: jobs-summary, csv-file
import activities.reports.examples  # noqa: F401  (registers sales-by-day, over the example database)
from activities.data_files import reading_under
from activities.liveness import beat
from activities.reports.registry import REPORTS, Report, ReportContext, Row
from activities.reports.tables import open_table
from activities.storage import Storage
from contracts.email import Attachment, EmailJob
from contracts.errors import failures_typed
from contracts.progress import Progress
from contracts.report import ATTACH_MAX_BYTES, RenderedReport, RenderReportInput, ReportDelivery, ReportFormat

CHUNK = 500
"""Rows handed to the writer at once: small enough to stay in memory, big enough to amortise the loop."""


class RenderCancelled(Exception):
    """The activity was cancelled (e.g. its heartbeat timed out): the render thread stops at the next chunk."""


class ReportActivities:
    """Renders and stores reports. Built once per worker with storage, a Temporal client and delivery settings."""

    def __init__(
        self,
        storage: Storage,
        *,
        email_task_queue: str,
        data_dir: Path,
        attach_max_bytes: int = ATTACH_MAX_BYTES,
        concurrency: int = 2,
        client: Client | None = None,
        workflow_types: list[str] | None = None,
        activity_types: list[str] | None = None,
        heartbeat_seconds: float = 1.0,
        databases: Mapping[str, SecretStr] | None = None,
    ) -> None:
        self.storage = storage
        self.email_task_queue = email_task_queue
        self.data_dir = data_dir
        self.attach_max_bytes = attach_max_bytes
        self.client = client
        self.workflow_types = workflow_types or []
        self.activity_types = activity_types or []
        self.heartbeat_seconds = heartbeat_seconds
        self.databases = databases or {}
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="report")

    @activity.defn(name="render_report")
    async def render_report(self, request: RenderReportInput) -> RenderedReport:
        """Render the report to a temporary file, store it under `<job-id>/<report>.<format>`, plan delivery."""
        job = request.job
        report = REPORTS[job.report]
        filename = f"{job.report}.{job.format.value}"
        key = f"{request.job_id}/{filename}"
        with failures_typed(), tempfile.TemporaryDirectory(prefix="conveyor-report-") as tmp:
            path = Path(tmp) / filename
            progress = await self._render_in_pool(report, job.params, job.format, path)
            size = path.stat().st_size
            await self.storage.upload(key, path, job.format.content_type)
        rows, pages = progress
        attach = bool(job.deliver_to) and size <= self.attach_max_bytes
        url = None if attach else await self.storage.link(key)
        delivery = None
        if job.deliver_to:
            email = EmailJob(
                to=job.deliver_to,
                template="report-ready",
                context={"title": report.title, "rows": rows, "format": job.format.value, "url": url},
                attachments=[Attachment(filename=filename, content_type=job.format.content_type, storage_key=key)]
                if attach
                else [],
            )
            delivery = ReportDelivery(task_queue=self.email_task_queue, email=email)
        return RenderedReport(
            key=key,
            filename=filename,
            content_type=job.format.content_type,
            size=size,
            rows=rows,
            pages=pages,
            url=url,
            delivery=delivery,
        )

    async def _render_in_pool(
        self, report: Report, params: dict[str, str], fmt: ReportFormat, path: Path
    ) -> tuple[int, int | None]:
        """(rows, pages) once the pool thread has written `path`; heartbeats progress until then."""
        loop = asyncio.get_running_loop()
        ctx = ReportContext(
            progress=Progress(stage="rendering", unit="rows"),
            cancelled=threading.Event(),
            client=self.client,
            loop=loop,
            workflow_types=self.workflow_types,
            activity_types=self.activity_types,
            databases=self.databases,
            attempt=activity.info().attempt,
        )
        render = loop.run_in_executor(
            self.pool, self._render, report, report.params.model_validate(params), fmt, path, ctx
        )
        try:
            while True:
                beat(ctx.progress.model_copy())
                done, _ = await asyncio.wait({render}, timeout=self.heartbeat_seconds)
                if done:
                    return render.result()
        finally:
            ctx.cancelled.set()  # the activity was cancelled or failed: stop the thread at its next chunk

    def _render(
        self, report: Report, params: BaseModel, fmt: ReportFormat, path: Path, ctx: ReportContext
    ) -> tuple[int, int | None]:
        with reading_under(self.data_dir):  # this pool thread's context: sources read files only in data_dir
            return render(report, params, fmt, path, ctx)


def render(
    report: Report, params: BaseModel, fmt: ReportFormat, path: Path, ctx: ReportContext
) -> tuple[int, int | None]:
    """Write `report` as `fmt` to `path`: (rows, pages). A CSV goes the source's own way where it has one (a
    PostgreSQL query: `COPY`), any other file through the table writer, a chunk of rows at a time."""
    copied = report.csv(params, ctx, path) if fmt is ReportFormat.CSV and report.csv else None
    if copied is not None:
        ctx.progress.total = copied
        return copied, None
    rows = iter(report.rows(params, ctx))
    columns = report.columns or [str(c) for c in next(rows, ())]
    shown = ", ".join(f"{k}={v}" for k, v in params.model_dump(mode="json").items()) or "none"
    preamble = [f"Parameters: {shown}", f"Generated: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"]
    table = open_table(fmt, path, report.title, columns, preamble)
    for chunk in chunks(rows):
        if ctx.cancelled.is_set():
            raise RenderCancelled()
        table.add(chunk)
        ctx.progress.done += len(chunk)
    pages = table.close()
    ctx.progress.total = ctx.progress.done
    return ctx.progress.done, pages


def chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    """`rows` in lists of `CHUNK`."""
    while chunk := list(islice(rows, CHUNK)):
        yield chunk
