"""`Jobs`: what an application imports to enqueue jobs and follow them.

    jobs = await Jobs.connect()
    handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
    print(await jobs.status(handle.id))

Input is validated here, before anything reaches Temporal, so a bad job raises `InvalidJobError` and nothing is
enqueued. A `key` makes enqueueing idempotent: the job id becomes `<kind>-<key>`, and enqueueing the same key
again hands back the existing job (running or finished) instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import ActivityFailureError, ActivityHandle, Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    ActivityIDConflictPolicy,
    ActivityIDReusePolicy,
    Priority,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ActivityAlreadyStartedError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.service import RPCError, RPCStatusCode

from contracts.broadcast import BroadcastJob
from contracts.email import EmailJob
from contracts.image import ImageJob
from contracts.image_batch import ImageBatchJob
from contracts.input_checks import MAX_DELAY
from contracts.kinds import KINDS, JobKind, Shape, kind_of
from contracts.report import ReportJob
from contracts.sms import SmsJob
from contracts.states import JobState
from contracts.webhook import WebhookJob
from conveyor import counting, flow, operations, search_attributes
from conveyor.connection import WITHOUT_STANDALONE_ACTIVITIES, connect
from conveyor.endpoints import EndpointSwitch
from conveyor.errors import (
    ConveyorError,
    EndpointDisabledError,
    InvalidJobError,
    JobFailed,
    JobNotFound,
    JobStateError,
    KeyReused,
    TemporalUnavailable,
)
from conveyor.events import UserEvent, deliver, validate_event
from conveyor.operations import JobStats, JobSummary
from conveyor.settings import Settings
from conveyor.status import JobStatus, activity_status, workflow_status
from conveyor.tenants import tenant_in, tenant_of, with_tenant
from workflows.policies import policy_of

MAX_PAYLOAD_BYTES = 1_500_000
"""Largest job input accepted: Temporal refuses payloads over 2 MB, and the history needs room besides."""

T = TypeVar("T")
log = logging.getLogger("conveyor")


def input_digest(model: BaseModel) -> str:
    """The digest of a job's input: the same key with other input is told apart by it (`KeyReused`)."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()


INPUT_MEMO = "input_sha256"
"""Memo of a keyed job: the digest of its input, so the same key with other input is told apart (`KeyReused`)."""


SQL_REFUSAL = "SQL logic error"
"""How a SQL visibility store's refusal of a query reads when the server reports it under a status other than
INVALID_ARGUMENT: the dev server's SQLite store answers UNAVAILABLE (or INTERNAL) with its parser's message."""

KEY_PATTERN = r"^[A-Za-z0-9_.:@+=-]{1,200}$"
"""What an idempotency key may be (the HTTP API's OpenAPI document states the same pattern)."""


@dataclass(frozen=True)
class JobHandle:
    """A job that was enqueued: its id, its kind, and a way to wait for its result (whatever its shape)."""

    id: str
    kind: JobKind | None
    """None for an execution that is not a Conveyor job kind."""
    execution: WorkflowHandle[Any, Any] | ActivityHandle[Any]
    """Temporal's handle on the job: a workflow's, or a standalone activity's."""

    @property
    def workflow(self) -> WorkflowHandle[Any, Any]:
        """Temporal's workflow handle, for a workflow-shaped job (`describe`, `query`, `signal`...)."""
        if not isinstance(self.execution, WorkflowHandle):
            raise TypeError(f"job {self.id} runs as a standalone activity: use `execution`")
        return self.execution

    @property
    def shape(self) -> Shape:
        """How the job runs: a standalone activity or a workflow."""
        return Shape.ACTIVITY if isinstance(self.execution, ActivityHandle) else Shape.WORKFLOW

    async def result(self) -> Any:
        """Wait for the job to end; its result model, or `JobFailed` naming the failure's type."""
        try:
            if isinstance(self.execution, ActivityHandle):
                return await activity_result(self.execution)
            return await self.execution.result()
        except (WorkflowFailureError, ActivityFailureError) as e:
            cause = e.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else type(cause).__name__
            message = cause.message if isinstance(cause, FailureError) else str(cause)
            raise JobFailed(self.id, kind or "Failure", message) from None


async def activity_result(handle: ActivityHandle[T]) -> T:
    """`handle.result()`, polled again while only the poll failed, never the job.

    temporalio 1.35 turns a result poll that outlived its RPC deadline on the client side (status CANCELLED,
    "Timeout expired") into `asyncio.CancelledError`, as if the waiting task had been cancelled; and a server busy
    with many polls at once answers RESOURCE_EXHAUSTED ("Workflow is busy") once the SDK's own retries are spent.
    Both were seen with 1,000 jobs awaited at once on a loaded dev server. The job goes on either way, so the wait
    does too (after a pause that doubles up to `BUSY_PAUSE_MAX`, when busy); a cancellation of the waiting task
    itself still ends the wait."""
    pause = 0.1
    while True:
        try:
            return await handle.result()
        except asyncio.CancelledError as e:
            task = asyncio.current_task()
            timed_out = isinstance(e.__cause__, RPCError) and e.__cause__.status == RPCStatusCode.CANCELLED
            if not timed_out or (task is not None and task.cancelling()):
                raise
        except RPCError as e:
            if e.status != RPCStatusCode.RESOURCE_EXHAUSTED:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, BUSY_PAUSE_MAX)


BUSY_PAUSE_MAX = 5.0
"""Longest pause, in seconds, before polling a busy server again for a job's result."""


START_TRIES = 5
"""How often a job's start is sent before its enqueue fails `TemporalUnavailable`."""
START_PAUSE = 0.2
"""Seconds before a start's second try, doubled before each next one (3 s in all over `START_TRIES`)."""

TRANSIENT = frozenset(
    {
        RPCStatusCode.CANCELLED,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    }
)
"""RPC failures of a start that say nothing of the job: the client's own time-out ("Timeout expired" comes as
CANCELLED), a server too busy or out of reach."""


async def started(jid: str, start: Callable[[], Awaitable[T]]) -> T:
    """`start()`, sent again while it fails transiently (`TRANSIENT`), then `TemporalUnavailable`.

    Safe because the job's id is fixed before the first try: a start that did land before its answer was lost
    is found by the next try as the job already started, which hands back that job (or `KeyReused`), so a retried
    start never enqueues twice. Seen: 1,000 starts at once on a loaded dev server, some answered after the SDK's
    10 s RPC time-out."""
    attempt, pause = 1, START_PAUSE
    while True:
        try:
            return await start()
        except RPCError as e:
            task = asyncio.current_task()
            if e.status not in TRANSIENT or (task is not None and task.cancelling()):
                raise
            if attempt == START_TRIES:
                raise TemporalUnavailable(
                    f"Temporal did not confirm job {jid} after {START_TRIES} tries ({e.message}); it may have been "
                    f"enqueued: `conveyor status {jid}` tells"
                ) from None
        await asyncio.sleep(pause)
        attempt, pause = attempt + 1, pause * 2


def validate(kind: JobKind, job: BaseModel | Mapping[str, Any]) -> BaseModel:
    """`job` as `kind`'s request model, or `InvalidJobError` naming the fields at fault."""
    try:
        model = job if isinstance(job, kind.request) else kind.request.model_validate(job)
    except ValidationError as e:
        raise InvalidJobError.of(f"{kind.name} job", e) from None
    except RecursionError:  # a value nested ~1,000 deep where a validator recurses (an enum's error repr of it)
        raise InvalidJobError(f"invalid {kind.name} job: nested too deeply") from None
    try:
        size = len(model.model_dump_json())
    except (ValueError, TypeError, RecursionError) as e:  # e.g. a Python caller's model nested past the encoder
        raise InvalidJobError(f"invalid {kind.name} job: cannot be encoded as JSON ({type(e).__name__})") from None
    if size > MAX_PAYLOAD_BYTES:
        raise oversized(kind.name, f"{size} bytes")
    return model


def oversized(kind: str, size: str) -> InvalidJobError:
    """The refusal of a job whose input is over `MAX_PAYLOAD_BYTES` (`size` says by how much, as known)."""
    return InvalidJobError(
        f"invalid {kind} job: {size} of input, over the {MAX_PAYLOAD_BYTES} limit; "
        "store large files and pass their storage key"
    )


def prepared(kind: JobKind, job: BaseModel | Mapping[str, Any], settings: Settings) -> BaseModel:
    """`job` validated as `kind`'s request and completed from `settings` (the kind's preparation): what every
    path that starts a job of `kind` sends, so the client, bulk, the CLI, the HTTP API and events agree."""
    return kind.prepare(settings, validate(kind, job))


def refused_query(error: RPCError) -> bool:
    """Whether `error` is the server refusing a question (a query it cannot parse or run) rather than an outage:
    the first is the caller's to fix and never "Temporal is unreachable"; only the second is."""
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return True
    return SQL_REFUSAL in error.message


def job_priority(priority: int | None) -> Priority:
    """Temporal's priority for Conveyor's 1 (first) to 5 (last); None keeps the default (3). A bool or a float
    is refused here, not by Temporal's protobuf encoder with a raw `TypeError`."""
    if priority is None:
        return Priority.default
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
        raise InvalidJobError("priority must be a whole number from 1 (first) to 5 (last)")
    return Priority(priority_key=priority)


def job_delay(delay: timedelta | None) -> timedelta | None:
    """`delay` if it is from 0 to `MAX_DELAY` (365 days); `InvalidJobError` otherwise."""
    if delay is not None and (not isinstance(delay, timedelta) or not timedelta(0) <= delay <= MAX_DELAY):
        raise InvalidJobError("delay must be from 0 to 365 days")
    return delay


@dataclass(frozen=True)
class BulkJob:
    """One item of `Jobs.bulk`: the same arguments as `Jobs.enqueue`."""

    kind: str
    job: BaseModel | Mapping[str, Any]
    key: str | None = None
    delay: timedelta | None = None
    priority: int | None = None
    tenant: str | None = None
    tenant_weight: float | None = None


def job_id(kind: JobKind, key: str | None) -> str:
    """`<kind>-<key>` for an idempotent job, `<kind>-<random>` otherwise."""
    if key is None:
        return f"{kind.name}-{uuid.uuid4().hex}"
    if not re.fullmatch(KEY_PATTERN, key):
        raise InvalidJobError("key must be 1-200 characters of letters, digits and -_.:@+=")
    return operations.job_id_of(kind, key)


def enqueued_kind(kind: str) -> JobKind:
    """The kind producers enqueue as `kind`, or `InvalidJobError` naming those they can."""
    spec = KINDS.get(kind)
    if spec is None or not spec.enqueued:
        known = ", ".join(k.name for k in KINDS.enqueued())
        raise InvalidJobError(f"unknown job kind {kind!r}; known: {known}")
    return spec


class Jobs:
    """Enqueue jobs and follow them. Build it with `await Jobs.connect()`, or around an existing client."""

    def __init__(self, client: Client, settings: Settings | None = None) -> None:
        self.client = client
        self.settings = settings or Settings()
        self._standalone: bool | None = self.settings.standalone_activities
        self._probing = asyncio.Lock()
        self._switch: EndpointSwitch | None = None

    async def standalone_activities(self) -> bool:
        """Whether activity-shaped kinds run as standalone activities here: `CONVEYOR_STANDALONE_ACTIVITIES`, or
        else the server's answer to one cheap count (asked once). A server without them (older than 1.31, or the
        time-skipping test server) runs those kinds in their workflow shape instead, with a warning.

        Asked once even when a thousand enqueues start at once on a new `Jobs` (`bulk`, a web app's first burst):
        without the lock each of them sent its own count, measured here as 3x the wall time of 1,000 enqueues."""
        if self._standalone is None:
            async with self._probing:
                if self._standalone is None:
                    self._standalone = await self._server_runs_standalone_activities()
        return self._standalone

    async def _server_runs_standalone_activities(self) -> bool:
        try:
            await self.client.count_activities("ActivityType = 'conveyor-probe'", rpc_timeout=timedelta(seconds=5))
        except RPCError as e:
            if e.status not in WITHOUT_STANDALONE_ACTIVITIES:
                raise
            log.warning("this Temporal server runs no standalone activities: email and SMS jobs run as workflows")
            return False
        return True

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
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue an email. `key` makes it idempotent; `delay` starts it later; `priority` 1 (first) to 5."""
        return await self.enqueue(
            "email", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def sms(
        self,
        job: SmsJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue a text message (number normalised to E.164). `key` makes it idempotent; `delay` starts it later."""
        return await self.enqueue(
            "sms", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def report(
        self,
        job: ReportJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue a report: rendered, stored, emailed to `deliver_to`. An unknown report name is refused here."""
        return await self.enqueue(
            "report", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def image(
        self,
        job: ImageJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue an image job: one source, several outputs (sizes, crops, formats) from one decode, stored with
        links. `key` makes it idempotent; `delay` starts it later; `priority` 1 (first) to 5."""
        return await self.enqueue(
            "image", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def image_batch(
        self,
        job: ImageBatchJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue an image batch: the same outputs for every image of a data-directory folder or storage prefix,
        `parallel` at a time; images that fail are listed in its result."""
        return await self.enqueue(
            "image_batch", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def broadcast(
        self,
        job: BroadcastJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue a broadcast. `key` makes it idempotent (and scopes its per-recipient keys); `delay` starts it
        later. Unless the job sets `continue_every`, it is `CONVEYOR_BROADCAST_CONTINUE_EVERY`."""
        return await self.enqueue(
            "broadcast", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def webhook(
        self,
        job: WebhookJob | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
    ) -> JobHandle:
        """Enqueue one webhook delivery to a declared endpoint. `key` makes it idempotent (and names its
        `webhook-id`); an unknown, unsubscribed or disabled endpoint is refused here."""
        return await self.enqueue(
            "webhook", job, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )

    async def webhook_event(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        key: str | None = None,
        concurrency: int = 50,
        tenant: str | None = None,
    ) -> list[JobHandle | ConveyorError]:
        """One webhook job per enabled endpoint subscribed to `event_type`, so a slow or dead endpoint never holds
        up the others. With `key` (the event's id), job ids are `webhook-<key>.<endpoint>`: the same event sent
        twice delivers once per endpoint. Disabled endpoints are skipped; each item is a handle or its error. `tenant`:
        whose event it is (every delivery's fairness key)."""
        tenant_of(tenant)
        names = [n for n, e in self.settings.endpoints().items() if e.subscribed(event_type)]
        states = await self._endpoints().states(names)
        items = [
            BulkJob(
                "webhook",
                {"endpoint": n, "event_type": event_type, "payload": dict(payload)},
                key and f"{key}.{n}",
                tenant=tenant,
            )
            for n in names
            if states[n] is None
        ]
        return await self.bulk(items, concurrency=concurrency, admitted=True)

    def _endpoints(self) -> EndpointSwitch:
        if self._switch is None:
            self._switch = EndpointSwitch(self.client, self.settings.task_queue)
        return self._switch

    async def signal_event(self, event: UserEvent | Mapping[str, Any], *, tenant: str | None = None) -> JobHandle:
        """Deliver an event (e.g. `user.created`) to the job it drives, starting that job if it is not running
        (as `tenant`'s job, when given)."""
        priority = with_tenant(Priority.default, tenant)
        handle = await deliver(self.client, self.settings, validate_event(event), priority)
        return JobHandle(id=handle.id, kind=KINDS.of_id(handle.id), execution=handle)

    async def enqueue(
        self,
        kind: str,
        job: BaseModel | Mapping[str, Any],
        *,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
        admitted: bool = False,
    ) -> JobHandle:
        """Enqueue a job of `kind` (see `contracts.kinds.KINDS`); the typed methods above call this. Validated and
        prepared here, so a bad job raises `InvalidJobError` and nothing is enqueued. (`admitted`: the caller has
        checked the endpoint of a webhook job already.) `tenant` is whose job it is: the fairness key its task queue
        dispatches by (with `tenant_weight`, its share against other tenants), and what `list`, `stats` and
        `failed` filter by."""
        spec = enqueued_kind(kind)
        model = prepared(spec, job, self.settings)
        if isinstance(model, WebhookJob) and not admitted:
            reason = await self._endpoints().disabled(model.endpoint)
            if reason is not None:
                raise EndpointDisabledError(model.endpoint, reason)
        delay, start_priority = job_delay(delay), with_tenant(job_priority(priority), tenant, tenant_weight)
        gate = await flow.offered(self.client, self.settings.task_queue, self.settings.queues, spec, model, key, delay)
        if gate is not None:  # debounced or throttled: its key's gate starts the job
            return JobHandle(id=gate.id, kind=KINDS["flow"], execution=gate)
        jid = job_id(spec, key)
        if spec.standalone and await self.standalone_activities():
            execution: Any = await started(
                jid, lambda: self._start_activity(spec, model, jid, key, delay, start_priority)
            )
        else:
            execution = await started(jid, lambda: self._start_workflow(spec, model, jid, key, delay, start_priority))
        return JobHandle(id=jid, kind=spec, execution=execution)

    def _search_attributes(self, spec: JobKind, model: BaseModel, key: str | None, priority: Priority) -> Any:
        if not self.settings.search_attributes:
            return None
        return search_attributes.for_job(key, spec.recipients(model), tenant_in(priority))

    async def _start_workflow(
        self, spec: JobKind, model: BaseModel, jid: str, key: str | None, delay: timedelta | None, priority: Priority
    ) -> WorkflowHandle[Any, Any]:
        try:
            return await self.client.start_workflow(
                spec.workflow_type,
                model,
                id=jid,
                task_queue=spec.task_queue(self.settings.queues, model),
                # Same key while running or after it ended: refuse a second run (the default reuse policy would
                # start one after it ended, and send twice); we then hand back the existing job if its input is
                # the same (its memo's digest), else `KeyReused`.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                memo={INPUT_MEMO: input_digest(model)} if key is not None else None,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_delay=delay,
                priority=priority,
                search_attributes=self._search_attributes(spec, model, key, priority),
                result_type=spec.result,
            )
        except WorkflowAlreadyStartedError:
            handle = self.client.get_workflow_handle(jid, result_type=spec.result)
            if key is not None:
                existing = await (await handle.describe()).memo_value(INPUT_MEMO, None)
                if existing is not None and existing != input_digest(model):  # None: enqueued before digests
                    raise KeyReused(jid) from None
            return handle

    async def _start_activity(
        self, spec: JobKind, model: BaseModel, jid: str, key: str | None, delay: timedelta | None, priority: Priority
    ) -> ActivityHandle[Any]:
        try:
            return await self.client.start_activity(
                spec.runs_as,
                model,
                id=jid,
                task_queue=spec.task_queue(self.settings.queues, model),
                # As for workflows: a key never starts a second run, and hands back the existing job only if
                # its input is the same. No `summary`: the UI shows the activity type (the kind) already, and it
                # cost the server ~3 % of its jobs/s (measured with and without, 3 runs each). No search
                # attributes: the web UI's one-click re-run of a job carrying any fails (400, or a 500 page), and
                # would drop them anyway; its key is in its id, its recipients in its input (`operations`).
                id_conflict_policy=ActivityIDConflictPolicy.FAIL,
                id_reuse_policy=ActivityIDReusePolicy.REJECT_DUPLICATE,
                start_delay=delay,
                priority=priority,
                result_type=spec.result,
                **policy_of(spec).activity_options(),
            )
        except ActivityAlreadyStartedError:
            handle = self.client.get_activity_handle(jid, result_type=spec.result)
            if key is not None:
                raw = (await handle.describe(include_input=True)).raw_input
                if raw is not None and raw.payloads:
                    existing = spec.request.model_validate_json(raw.payloads[0].data)
                    if input_digest(existing) != input_digest(model):
                        raise KeyReused(jid) from None
            return handle

    async def bulk(
        self, items: Iterable[BulkJob], *, concurrency: int = 50, admitted: bool = False
    ) -> list[JobHandle | ConveyorError]:
        """Enqueue many jobs, at most `concurrency` at a time. Each item gets its handle or its error, in order:
        a bad item never aborts the batch."""

        async def one(item: BulkJob) -> JobHandle | ConveyorError:
            try:
                return await self.enqueue(
                    item.kind,
                    item.job,
                    key=item.key,
                    delay=item.delay,
                    priority=item.priority,
                    tenant=item.tenant,
                    tenant_weight=item.tenant_weight,
                    admitted=admitted,
                )
            except ConveyorError as e:
                return e

        return await operations.bounded(list(items), one, concurrency)

    async def locate(self, job_id: str) -> JobHandle:
        """A handle on an existing Conveyor job by id, whatever its shape: a standalone activity or a workflow.
        `JobNotFound` when there is none, or when the id names something that is not a Conveyor job."""

        async def temporal_type(shape: Shape) -> str:
            if shape is Shape.ACTIVITY:
                return (await self.client.get_activity_handle(job_id).describe()).activity_type
            return (await self.client.get_workflow_handle(job_id).describe()).workflow_type

        shape, kind, _ = await self._found(job_id, temporal_type, kind_of)
        if shape is Shape.ACTIVITY:
            return JobHandle(job_id, kind, self.client.get_activity_handle(job_id, result_type=kind.result))
        return JobHandle(job_id, kind, self.client.get_workflow_handle(job_id, result_type=kind.result))

    async def status(self, job_id: str) -> JobStatus:
        """The job's state, attempts, failure, progress and web UI link; `JobNotFound` if there is none. Read
        straight away (no describe first to find the job's shape: the read itself tells)."""
        ui, namespace = self.settings.web_ui, self.settings.namespace

        async def read(shape: Shape) -> JobStatus:
            if shape is Shape.ACTIVITY:
                return await activity_status(self.client.get_activity_handle(job_id), ui, namespace)
            return await workflow_status(self.client.get_workflow_handle(job_id), ui, namespace, self.client)

        _, _, status = await self._found(job_id, read, lambda s: KINDS.get(s.kind))
        return status

    async def input(self, job_id: str) -> Any:
        """The input the job was started with, as JSON (the same for every run of it); `JobNotFound` if there is
        no such job. It is the producer's data, unmasked: the jobs page masks it before showing it."""
        client = self.client

        async def read(shape: Shape) -> tuple[JobKind | None, Any]:
            return await operations.job_input(client, job_id, shape)

        _, _, (_, value) = await self._found(job_id, read, lambda found: found[0])
        return value

    async def _found(
        self, job_id: str, read: Callable[[Shape], Awaitable[T]], kind_in: Callable[[T], JobKind | None]
    ) -> tuple[Shape, JobKind, T]:
        """`read` of the job, trying its shapes in the order its kind suggests (so jobs of a kind's earlier shape are
        still found): the shape it has, its kind (`kind_in` of what was read) and what was read. `JobNotFound` when
        neither shape has it, or when it is an execution of the namespace that is no Conveyor job."""
        spec = KINDS.of_id(operations.searchable("job id", job_id))
        order = [Shape.ACTIVITY, Shape.WORKFLOW] if spec and spec.standalone else list(Shape)[::-1]
        for shape in order:
            try:
                value = await read(shape)
            except RPCError as e:
                if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNIMPLEMENTED):
                    continue
                raise
            kind = kind_in(value)
            if kind is None:
                break  # not ours to show or act on
            return shape, kind, value
        raise JobNotFound(f"no job {job_id!r}")

    async def result(self, job_id: str) -> Any:
        """Wait for the job to end: its result, or `JobFailed`."""
        return await (await self.locate(job_id)).result()

    async def retry(self, job_id: str) -> str:
        """Run a failed (or terminated, timed-out) job again from the start with the same input, as a new run of
        the same job id. Returns the new run id; `JobStateError` for open or completed jobs."""
        job = await self.locate(job_id)
        return await operations.retry(self.client, self.settings.namespace, job_id, job.shape)

    async def cancel(self, job_id: str) -> None:
        """Cancel a job: a heartbeating step stops at its next heartbeat; the job ends `cancelled`."""
        job = await self.locate(job_id)
        await operations.cancel(self.client, job_id, job.shape)

    async def run_now(self, job_id: str) -> None:
        """Start a delayed job at once instead of when its `delay` ends (Bull Board's promote): the same job, the
        same input. `JobStateError` for a job that is not `scheduled`, or is due within seconds anyway."""
        job = await self.locate(job_id)
        await operations.run_now(self.client, job_id, job.shape)

    async def failed(
        self, kind: str | None = None, since: datetime | None = None, limit: int = 100, tenant: str | None = None
    ) -> list[JobSummary]:
        """The dead-letter view: jobs that failed for good (and were not retried since), newest first, each with
        its failure; only `tenant`'s, when given."""
        return await self._asked(self._failed(kind, since, limit, tenant))

    def _failed(
        self, kind: str | None, since: datetime | None, limit: int, tenant: str | None
    ) -> Awaitable[list[JobSummary]]:
        scan = self.settings.recipient_scan_limit
        return operations.failed_jobs(self.client, kind, since, limit, tenant, scan)

    async def retry_failed(
        self,
        kind: str | None = None,
        since: datetime | None = None,
        *,
        limit: int = 1000,
        concurrency: int = 10,
        tenant: str | None = None,
    ) -> int:
        """Retry every job that is failed now (of `kind`, since `since`, of `tenant`), `concurrency` at a time; how
        many were retried (a job that moved on meanwhile, e.g. retried by someone else, is skipped)."""
        jobs = await self._asked(self._failed(kind, since, limit, tenant))

        async def one(job: JobSummary) -> bool:
            try:
                await operations.retry(self.client, self.settings.namespace, job.id, job.shape)
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
        include_internal: bool = False,
        tenant: str | None = None,
    ) -> list[JobSummary]:
        """Jobs matching every filter given, newest first, each shown by its latest run. `key` is exact for every
        job; `recipient` is exact, and finds an email or SMS job among the newest `CONVEYOR_RECIPIENT_SCAN_LIMIT`
        of them matching the other filters (or by its attribute, if it was started before they stopped carrying
        one), any other job within retention. Conveyor's own housekeeping jobs (the failure watch) only with
        `include_internal`, or when `kind` names them. `tenant` is exact for a workflow-shaped job (its `Tenant`
        attribute), and finds an activity-shaped one among the newest `CONVEYOR_RECIPIENT_SCAN_LIMIT` (by its
        priority, one describe each)."""
        queries = operations.visibility_queries(
            kind, state, key, recipient, include_internal=include_internal, tenant=tenant
        )
        listed = operations.list_jobs(
            self.client,
            queries,
            limit,
            state,
            self.settings.stats_open_limit,
            recipient,
            self.settings.recipient_scan_limit,
            tenant,
        )
        return await self._asked(listed)

    async def stats(
        self, window: timedelta | None = None, include_internal: bool = False, tenant: str | None = None
    ) -> JobStats:
        """Jobs per kind, task queue and state, like a queue dashboard: open jobs now, completed and failed ones
        over `window` (default `CONVEYOR_STATS_WINDOW`, 24 h). A retried job counts once, by its latest run.
        Conveyor's own housekeeping kinds (the failure watch) are counted only with `include_internal`; only
        `tenant`'s jobs, when given (activity-shaped ones by one describe each)."""
        since = datetime.now(UTC) - (window or self.settings.stats_window)
        settings = self.settings
        counted = counting.stats(
            self.client, since, settings.queues, settings.stats_open_limit, include_internal, tenant
        )
        return await self._asked(counted)

    async def _asked(self, call: Awaitable[T]) -> T:
        """`call` (a visibility query), with the server's refusal of the query turned into `InvalidJobError`:
        input the edge let through but the store cannot search for is the caller's mistake, not an outage."""
        try:
            return await call
        except RPCError as e:
            if refused_query(e):
                raise InvalidJobError("Temporal refused to search for these filters") from None
            raise
