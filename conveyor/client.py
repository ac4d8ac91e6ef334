"""`Jobs`: what an application imports to enqueue jobs and follow them.

    jobs = await Jobs.connect()
    handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
    print(await jobs.status(handle.id))

Input is validated here, before anything reaches Temporal, so a bad job raises `InvalidJobError` and nothing is
enqueued. A `key` makes enqueueing idempotent: the job id becomes `<kind>-<key>`, and enqueueing the same key
again hands back the existing job (running or finished) instead of starting a second one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import describe_errors
from conveyor import operations, search_attributes
from conveyor.connection import connect
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed, JobNotFound, JobStateError
from conveyor.events import UserEvent, deliver, validate_event
from conveyor.kinds import KINDS, JobKind
from conveyor.operations import JobSummary
from conveyor.settings import Settings
from conveyor.status import JobState, JobStatus, read_status
from workflows.broadcast import BroadcastJob
from workflows.email import EmailJob
from workflows.report import ReportJob
from workflows.sms import SmsJob

MAX_PAYLOAD_BYTES = 1_500_000
"""Largest job input accepted: Temporal refuses payloads over 2 MB, and the history needs room besides."""

T = TypeVar("T")

SQL_REFUSAL = "SQL logic error"
"""How a SQL visibility store's refusal of a query reads when the server reports it under a status other than
INVALID_ARGUMENT: the dev server's SQLite store answers UNAVAILABLE (or INTERNAL) with its parser's message."""

KEY_PATTERN = r"^[A-Za-z0-9_.:@+=-]{1,200}$"
"""What an idempotency key may be (the HTTP API's OpenAPI document states the same pattern)."""


@dataclass(frozen=True)
class JobHandle:
    """A job that was enqueued: its id, and a way to wait for its result."""

    id: str
    kind: JobKind | None
    """None for a workflow that is not a Conveyor job kind (e.g. started under another id scheme)."""
    workflow: WorkflowHandle[Any, Any]

    async def result(self) -> Any:
        """Wait for the job to end; its result model, or `JobFailed` naming the failure's type."""
        try:
            return await self.workflow.result()
        except WorkflowFailureError as e:
            cause = e.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
            message = cause.message if isinstance(cause, FailureError) else str(cause)
            raise JobFailed(self.id, kind or "Failure", message) from None


def validate(kind: JobKind, job: BaseModel | Mapping[str, Any]) -> BaseModel:
    """`job` as `kind`'s request model, or `InvalidJobError` naming the fields at fault."""
    try:
        model = job if isinstance(job, kind.request) else kind.request.model_validate(job)
    except ValidationError as e:
        raise InvalidJobError(f"invalid {kind.name} job: {describe_errors(e)}") from None
    size = len(model.model_dump_json())
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidJobError(
            f"invalid {kind.name} job: {size} bytes of input, over the {MAX_PAYLOAD_BYTES} limit; "
            "store large files and pass their storage key"
        )
    return model


def refused_query(error: RPCError) -> bool:
    """Whether `error` is the server refusing a question (a query it cannot parse or run) rather than an outage:
    the first is the caller's to fix and never "Temporal is unreachable"; only the second is."""
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return True
    return SQL_REFUSAL in error.message


def job_priority(priority: int | None) -> Priority:
    """Temporal's priority for Conveyor's 1 (first) to 5 (last); None keeps the default (3)."""
    if priority is None:
        return Priority.default
    if not 1 <= priority <= 5:
        raise InvalidJobError("priority must be 1 (first) to 5 (last)")
    return Priority(priority_key=priority)


@dataclass(frozen=True)
class BulkJob:
    """One item of `Jobs.bulk`: the same arguments as `Jobs.enqueue`."""

    kind: str
    job: BaseModel | Mapping[str, Any]
    key: str | None = None
    delay: timedelta | None = None
    priority: int | None = None


def job_id(kind: JobKind, key: str | None) -> str:
    """`<kind>-<key>` for an idempotent job, `<kind>-<random>` otherwise."""
    if key is None:
        return f"{kind.name}-{uuid.uuid4().hex}"
    if not re.fullmatch(KEY_PATTERN, key):
        raise InvalidJobError("key must be 1-200 characters of letters, digits and -_.:@+=")
    return f"{kind.name}-{key}"


class Jobs:
    """Enqueue jobs and follow them. Build it with `await Jobs.connect()`, or around an existing client."""

    def __init__(self, client: Client, settings: Settings | None = None) -> None:
        self.client = client
        self.settings = settings or Settings()

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> Jobs:
        """Connect to the Temporal cluster in `settings` (default: `CONVEYOR_*` variables, then `conveyor dev`)."""
        settings = settings or Settings()
        return cls(await connect(settings), settings)

    async def email(
        self,
        job: EmailJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
    ) -> JobHandle:
        """Enqueue an email. `key` makes it idempotent; `delay` starts it later; `priority` 1 (first) to 5."""
        return await self.enqueue("email", job, key=key, delay=delay, priority=priority)

    async def sms(
        self, job: SmsJob | Mapping[str, Any], *, key: str | None = None, delay: timedelta | None = None
    ) -> JobHandle:
        """Enqueue a text message (number normalised to E.164). `key` makes it idempotent; `delay` starts it later."""
        return await self.enqueue("sms", job, key=key, delay=delay)

    async def report(
        self, job: ReportJob | Mapping[str, Any], *, key: str | None = None, delay: timedelta | None = None
    ) -> JobHandle:
        """Enqueue a report: rendered, stored, emailed to `deliver_to`. An unknown report name is refused here."""
        return await self.enqueue("report", job, key=key, delay=delay)

    async def broadcast(
        self,
        job: BroadcastJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
    ) -> JobHandle:
        """Enqueue a broadcast. `key` makes it idempotent (and scopes its per-recipient keys); `delay` starts it
        later. Unless the job sets `continue_every`, it is `CONVEYOR_BROADCAST_CONTINUE_EVERY`."""
        model = validate(KINDS["broadcast"], job)
        if "continue_every" not in model.model_fields_set:
            model = model.model_copy(update={"continue_every": self.settings.broadcast_continue_every})
        return await self.enqueue("broadcast", model, key=key, delay=delay)

    async def signal_event(self, event: UserEvent | Mapping[str, Any]) -> JobHandle:
        """Deliver an event (e.g. `user.created`) to the job it drives, starting that job if it is not running."""
        handle = await deliver(self.client, self.settings, validate_event(event))
        return JobHandle(id=handle.id, kind=None, workflow=handle)

    async def enqueue(
        self,
        kind: str,
        job: BaseModel | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
    ) -> JobHandle:
        """Enqueue a job of `kind` (see `conveyor.kinds.KINDS`); the typed methods above call this."""
        spec = KINDS.get(kind)
        if spec is None:
            raise InvalidJobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
        model = validate(spec, job)
        if delay is not None and delay < timedelta(0):
            raise InvalidJobError("delay must not be negative")
        jid = job_id(spec, key)
        try:
            handle = await self.client.start_workflow(
                spec.workflow,
                model,
                id=jid,
                task_queue=spec.task_queue(self.settings, model),
                # Same key while running: hand back the running job. Same key after it ended: refuse a second
                # run (the default would start one and send twice); we then hand back the ended job.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_delay=delay,
                priority=job_priority(priority),
                search_attributes=(
                    search_attributes.for_job(key, spec.recipients(model)) if self.settings.search_attributes else None
                ),
                result_type=spec.result,
            )
        except WorkflowAlreadyStartedError:
            handle = self.client.get_workflow_handle(jid, result_type=spec.result)
        return JobHandle(id=jid, kind=spec, workflow=handle)

    async def bulk(self, items: Iterable[BulkJob], *, concurrency: int = 50) -> list[JobHandle | ConveyorError]:
        """Enqueue many jobs, at most `concurrency` at a time. Each item gets its handle or its error, in order:
        a bad item never aborts the batch."""

        async def one(item: BulkJob) -> JobHandle | ConveyorError:
            try:
                return await self.enqueue(item.kind, item.job, key=item.key, delay=item.delay, priority=item.priority)
            except ConveyorError as e:
                return e

        return await operations.bounded(list(items), one, concurrency)

    def handle(self, job_id: str) -> JobHandle:
        """A handle on an existing job by id; its kind (and result type) is read from the id's prefix."""
        spec = KINDS.get(operations.searchable("job id", job_id).partition("-")[0])
        result_type = spec.result if spec else None
        return JobHandle(job_id, spec, self.client.get_workflow_handle(job_id, result_type=result_type))

    async def status(self, job_id: str) -> JobStatus:
        """The job's state, attempts, failure, progress and web UI link; `JobNotFound` if there is none."""
        handle = self.client.get_workflow_handle(operations.searchable("job id", job_id))
        return await self._known(read_status(handle, self.settings.web_ui, self.settings.namespace), job_id)

    async def result(self, job_id: str) -> Any:
        """Wait for the job to end: its result, or `JobFailed`."""
        return await self.handle(job_id).result()

    async def retry(self, job_id: str) -> str:
        """Run a failed (or terminated, timed-out) job again from the start with the same input, as a new run of
        the same job id (a Temporal reset). Returns the new run id; `JobStateError` for running/completed jobs."""
        operations.searchable("job id", job_id)
        return await self._known(operations.retry(self.client, self.settings.namespace, job_id), job_id)

    async def cancel(self, job_id: str) -> None:
        """Cancel a job: a heartbeating activity stops at its next heartbeat; the job ends `cancelled`."""
        operations.searchable("job id", job_id)
        await self._known(operations.cancel(self.client, job_id), job_id)

    async def failed(
        self, kind: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[JobSummary]:
        """The dead-letter view: jobs that failed for good, newest first, each with its failure."""
        return await self._asked(operations.failed_jobs(self.client, kind, since, limit))

    async def retry_failed(
        self, kind: str | None = None, since: datetime | None = None, *, limit: int = 1000, concurrency: int = 10
    ) -> int:
        """Retry every job that is failed now (of `kind`, since `since`), `concurrency` at a time; how many were
        retried (a job that moved on meanwhile, e.g. retried by someone else, is skipped)."""
        query = operations.visibility_query(kind, JobState.FAILED, since=since)
        jobs = await self._asked(operations.list_jobs(self.client, query, limit, latest_only=True))

        async def one(job: JobSummary) -> bool:
            try:
                await self.retry(job.id)
            except JobStateError:
                return False
            return True

        return sum(await operations.bounded(jobs, one, concurrency))

    async def list(
        self,
        kind: str | None = None,
        state: JobState | None = None,
        key: str | None = None,
        recipient: str | None = None,
        limit: int = 100,
    ) -> list[JobSummary]:
        """Jobs matching every filter given, newest first (`recipient` and `key` use search attributes). With
        `state`, only jobs whose latest run is in that state."""
        query = operations.visibility_query(kind, state, key, recipient)
        return await self._asked(operations.list_jobs(self.client, query, limit, latest_only=state is not None))

    async def stats(self) -> dict[str, dict[str, int]]:
        """Run counts per kind and state, e.g. `{"email": {"completed": 120, "failed": 2}}` (a retried job counts
        once per run: its failed run and its new one)."""
        return await self._asked(operations.stats(self.client))

    async def _known(self, call: Awaitable[T], job_id: str) -> T:
        """`call`, with Temporal's not-found turned into `JobNotFound`."""
        try:
            return await call
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFound(f"no job {job_id!r}") from None
            raise

    async def _asked(self, call: Awaitable[T]) -> T:
        """`call` (a visibility query), with the server's refusal of the query turned into `InvalidJobError`:
        input the edge let through but the store cannot search for is the caller's mistake, not an outage."""
        try:
            return await call
        except RPCError as e:
            if refused_query(e):
                raise InvalidJobError("Temporal refused to search for these filters") from None
            raise
