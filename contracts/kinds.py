"""The registry of job kinds: the one list every surface derives from.

A kind names what a job is (`email`), how it runs (its shape and the Temporal type that runs it), its request and
result models, the task queue a job of it starts on, its job-id prefix, the recipients it reaches (for `list
--recipient`), whether producers enqueue it by name, its preparation from settings, and its policy row. The client,
bulk enqueue, the CLI, the HTTP API, schedules, events, metrics, logs, alerts, `status`, `list`, `failed` and
`stats` all read it here, so a kind added here (or by a team's own package: see `load_plugins`) appears in all of
them at once.

Kinds defined outside Conveyor register through the `conveyor.kinds` entry-point group, or through
`CONVEYOR_KINDS` (comma-separated `module:attribute` paths, read from the environment): each names a `JobKind`.
A team's `@job` functions (`conveyor.job`) register themselves when their module is imported: `CONVEYOR_JOBS`
(comma-separated module names) imports those modules in every process that loads the registry.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from contracts.broadcast import BroadcastJob, BroadcastResult
from contracts.cleanup import CleanupJob, CleanupResult
from contracts.email import EmailJob, EmailResult
from contracts.errors import InvalidJobError
from contracts.failure_watch import FailureWatchInput, FailureWatchReport
from contracts.flow import Debounce, GateState, PerKey, Throttle
from contracts.image import ImageJob, ImageResult
from contracts.image_batch import ImageBatchJob, ImageBatchResult
from contracts.policy import JobPolicy
from contracts.report import ReportJob, ReportResult
from contracts.sms import SmsJob, SmsResult
from contracts.webhook import EndpointOff, WebhookJob, WebhookResult
from contracts.welcome import WelcomeJob, WelcomeResult

DEFAULT_QUEUE, SMS_QUEUE, REPORTS_QUEUE, IMAGES_QUEUE = "default", "sms", "reports", "images"
"""The task-queue roles a kind may name; settings map each to a queue name (`conveyor`, `conveyor-sms`, ...)."""

ENTRY_POINT_GROUP = "conveyor.kinds"
KINDS_VARIABLE = "CONVEYOR_KINDS"
JOBS_VARIABLE = "CONVEYOR_JOBS"


class Shape(StrEnum):
    """How a job of a kind runs on Temporal (see the architecture page)."""

    ACTIVITY = "activity"
    """A single step: one standalone activity is the job (one server round trip, its own page in the web UI)."""
    WORKFLOW = "workflow"
    """Several steps (or timers, signals, children): a workflow orchestrating activities."""


Hosted = tuple[Sequence[type], Sequence[Callable[..., Any]]]
"""What a worker hosts for a kind defined outside Conveyor: its workflow classes and its activity callables."""


@dataclass(frozen=True)
class JobKind:
    """One kind of job. Everything about it that is not its code lives here (and in its policy row)."""

    name: str
    """The kind as producers name it, and the prefix of its job ids (`email-<key>`)."""
    runs_as: str
    """The Temporal type a job of this kind is: its workflow type (`SendEmail`) or, for the activity shape, its
    activity type (`email`)."""
    request: type[BaseModel]
    result: type[BaseModel]
    policy: str | JobPolicy
    """Its row in `workflows.policies.POLICIES`, or (for a kind defined outside Conveyor) the row itself."""
    shape: Shape
    """Named by every kind, never defaulted: a one-step kind that forgot it would silently become a workflow type
    that nothing registers."""
    queue: str | Callable[[Any], str] = DEFAULT_QUEUE
    """The task queue of a job: a role (`default`, `sms`, `reports`), a queue name, or a function of the job
    returning one of them."""
    hosted_on: tuple[str, ...] = ()
    """For a kind whose queue is a function of the job: every queue (role or name) it may choose, each of which
    workers serve with its activity (e.g. a Django task on each queue of its backend). Otherwise the default
    queue hosts such a kind."""
    recipients: Callable[[Any], list[str]] = field(default=lambda job: [])
    """The addresses or numbers a job reaches: a workflow-shaped job's `Recipients` search attribute, and what
    `list --recipient` matches in an activity-shaped job's input (which carries no search attribute)."""
    enqueued: bool = True
    """Producers enqueue it by name (`Jobs.enqueue`, `conveyor send`, `POST /jobs/<kind>`); False for kinds that
    events or schedules start."""
    internal: bool = False
    """Conveyor's own housekeeping (the failure watch, every minute), not a job anyone asked for: left out of
    `list` and `stats` unless asked for (`include_internal=True`, `--all`), named by `--kind`, and always in
    `failed` (a housekeeping job that failed is one to look at)."""
    prepare: Callable[[Any, Any], Any] = field(default=lambda settings, job: job)
    """The job completed from settings (defaults the producer left out), applied on every path that starts it."""
    stage: str = "running"
    """What a running job of an activity-shaped kind is doing, as `status` shows it (`sending`): the same words as
    its workflow shape's `status` query, so both shapes read alike. Workflows name their own stages."""
    earlier_types: tuple[str, ...] = ()
    """Workflow types that ran this kind before (e.g. `SendEmail`, before email became an activity): jobs of those
    types still in flight or in retention are shown as this kind, and an activity-shaped kind runs as the first of
    them on a server without standalone activities."""
    hosted: str | None = None
    """For a kind defined outside Conveyor: `module:function` returning what the worker hosts (`Hosted`), given
    the worker's settings. Built-in kinds are composed by `worker.build`."""
    example: Mapping[str, Any] | None = None
    """A valid request as JSON, shown in the HTTP API's OpenAPI document (built-in kinds: `conveyor.http.examples`)."""
    function: Callable[[Any], Any] | None = None
    """For a kind declared with `@job` (`conveyor.job`): the team's function, called with the validated request
    model. A coroutine function runs on the worker's event loop, a plain one in its thread pool; the worker hosts
    it as the activity `runs_as` (`activities.team_jobs`)."""
    workflow: type | None = None
    """For a kind declared with `@job.workflow` (`conveyor.team_jobs`): the team's `@workflow.defn` class, whose
    steps are its `@job` functions (`await crm_sync.step(...)`). Every worker hosts it, as it hosts built-in
    workflows."""
    concurrency: PerKey | None = None
    """At most `limit` jobs of this kind with the same key run at once, the others waiting in order (`PerKey`,
    `workers.flow_slots`). A limited activity-shaped kind runs in its workflow shape: a standalone activity has
    nowhere to wait for a slot."""
    debounce: Debounce | None = None
    """Enqueueing offers the input to the key's gate, which runs one job with the latest input once none came
    for `wait` (`conveyor.flow`). The job runs in its workflow shape, started by the gate."""
    throttle: Throttle | None = None
    """Likewise: at most one job per `every` per key, the first at once, then the latest input of each window."""

    def __post_init__(self) -> None:
        # An activity-shaped kind needs something that runs it; without a shape named, a one-step kind would
        # silently become a workflow type that nothing registers.
        if self.function is not None and self.shape is not Shape.ACTIVITY:
            raise ValueError(f"job kind {self.name!r}: a @job function runs as a standalone activity")
        if self.workflow is not None and self.shape is not Shape.WORKFLOW:
            raise ValueError(f"job kind {self.name!r}: a @job.workflow class runs as a workflow")
        if self.debounce is not None and self.throttle is not None:
            raise ValueError(f"job kind {self.name!r}: debounced or throttled, not both")

    @property
    def standalone(self) -> bool:
        """Whether its jobs start as standalone activities (where the server runs them): activity-shaped and not
        limited per key (`concurrency`)."""
        return self.shape is Shape.ACTIVITY and self.concurrency is None

    @property
    def types(self) -> tuple[str, ...]:
        """Every Temporal type a job of this kind may be (the current one first)."""
        return (self.runs_as, *self.earlier_types)

    @property
    def workflow_type(self) -> str:
        """The workflow type a job of this kind starts as in the workflow shape: its own for a workflow kind; for an
        activity kind on a server without standalone activities, its earlier workflow (`SendEmail`), else its own
        name, which the one-step workflow every worker registers runs (`workflows.one_step`)."""
        return self.earlier_types[0] if self.shape is Shape.ACTIVITY and self.earlier_types else self.runs_as

    def types_of(self, shape: Shape) -> tuple[str, ...]:
        """The Temporal types a job of this kind may be as an execution of `shape` (an activity type, or
        workflow types: an activity kind's earlier workflows, or its one-step workflow)."""
        if shape is Shape.ACTIVITY:
            return (self.runs_as,) if self.shape is Shape.ACTIVITY else ()
        return self.types if self.shape is Shape.WORKFLOW else self.earlier_types or (self.runs_as,)

    def hosting_queues(self, queues: Mapping[str, str], default: str) -> list[str]:
        """The queues a worker hosts this kind's code on, with `queues` mapping roles to queue names: its own,
        or those it may choose (`hosted_on`), or `default` when it chooses by the job."""
        if self.hosted_on:
            return [queues.get(q, q) for q in self.hosted_on]
        return [default] if callable(self.queue) else [self.task_queue(queues, None)]

    def task_queue(self, queues: Mapping[str, str], job: Any) -> str:
        """The queue a (validated) job of this kind starts on, with `queues` mapping roles to queue names."""
        chosen = self.queue(job) if callable(self.queue) else self.queue
        return queues.get(chosen, chosen)


def _broadcast_queue(job: BroadcastJob) -> str:
    # SMS broadcasts run where texts are sent: on the SMS queue, under its rate limit (see workflows.broadcast).
    return SMS_QUEUE if job.message.channel == "sms" else DEFAULT_QUEUE


def _broadcast_prepared(settings: Any, job: BroadcastJob) -> BroadcastJob:
    if "continue_every" in job.model_fields_set:
        return job
    return job.model_copy(update={"continue_every": settings.broadcast_continue_every})


def _welcome_prepared(settings: Any, job: WelcomeJob) -> WelcomeJob:
    if "follow_up_after" in job.model_fields_set:
        return job
    return job.model_copy(update={"follow_up_after": settings.welcome_follow_up_after})


def _webhook_prepared(settings: Any, job: WebhookJob) -> WebhookJob:
    # Refused at the edge: an endpoint the settings do not declare, or one not subscribed to the event type.
    endpoint = settings.endpoints().get(job.endpoint)
    if endpoint is None:
        known = ", ".join(sorted(settings.endpoints())) or "none declared"
        raise InvalidJobError(f"invalid webhook job: no endpoint {job.endpoint!r} (known: {known})")
    if not endpoint.subscribed(job.event_type):
        raise InvalidJobError(f"invalid webhook job: endpoint {job.endpoint!r} does not subscribe to {job.event_type}")
    return job


BUILT_IN: tuple[JobKind, ...] = (
    JobKind(
        name="email",
        runs_as="email",
        shape=Shape.ACTIVITY,
        stage="sending",
        earlier_types=("SendEmail",),
        request=EmailJob,
        result=EmailResult,
        policy="email",
        recipients=lambda job: job.recipients,
    ),
    JobKind(
        name="sms",
        runs_as="sms",
        shape=Shape.ACTIVITY,
        stage="sending",
        earlier_types=("SendSms",),
        request=SmsJob,
        result=SmsResult,
        policy="sms",
        queue=SMS_QUEUE,
        recipients=lambda job: [job.to],
    ),
    JobKind(
        name="webhook",
        runs_as="webhook",
        shape=Shape.ACTIVITY,
        stage="delivering",
        request=WebhookJob,
        result=WebhookResult,
        policy="webhook",
        prepare=_webhook_prepared,
    ),
    JobKind(
        name="webhook_endpoint",
        runs_as="WebhookEndpointDisabled",
        shape=Shape.WORKFLOW,
        request=EndpointOff,
        result=EndpointOff,
        policy="alert",  # it runs no activity: open while its endpoint is disabled (see workflows.webhook_endpoint)
        enqueued=False,  # started by a 410 Gone or `conveyor endpoints disable`
        internal=True,  # a record, not a job anyone asked for: out of `list` and `stats` unless asked
    ),
    JobKind(
        name="report",
        runs_as="GenerateReport",
        shape=Shape.WORKFLOW,
        request=ReportJob,
        result=ReportResult,
        policy="report",
        queue=REPORTS_QUEUE,
        recipients=lambda job: list(job.deliver_to),
    ),
    JobKind(
        name="image",
        runs_as="image",
        shape=Shape.ACTIVITY,
        stage="resizing",
        request=ImageJob,
        result=ImageResult,
        policy="image",
        queue=IMAGES_QUEUE,  # CPU-bound: its own queue, slots and libvips threads, never email's
    ),
    JobKind(
        name="image_batch",
        runs_as="ImageBatch",
        shape=Shape.WORKFLOW,
        request=ImageBatchJob,
        result=ImageBatchResult,
        policy="image",
        queue=IMAGES_QUEUE,
    ),
    JobKind(
        name="broadcast",
        runs_as="Broadcast",
        shape=Shape.WORKFLOW,
        request=BroadcastJob,
        result=BroadcastResult,
        policy="broadcast-send",
        queue=_broadcast_queue,
        prepare=_broadcast_prepared,
    ),
    JobKind(
        name="welcome",
        runs_as="Welcome",
        shape=Shape.WORKFLOW,
        request=WelcomeJob,
        result=WelcomeResult,
        policy="email",
        enqueued=False,  # started by the user.created / user.activated events
        prepare=_welcome_prepared,
    ),
    JobKind(
        name="cleanup",
        runs_as="Cleanup",
        shape=Shape.WORKFLOW,
        request=CleanupJob,
        result=CleanupResult,
        policy="cleanup",
        enqueued=False,  # started by the weekly-cleanup schedule (or `temporal schedule trigger`)
    ),
    JobKind(
        name="flow",
        runs_as="FlowGate",
        shape=Shape.WORKFLOW,
        request=GateState,
        result=GateState,
        policy="alert",  # it runs no activity: the slots of one key of a limited kind (see workflows.flow_gate)
        enqueued=False,  # started by the first limited job of its key
        internal=True,  # bookkeeping, not a job anyone asked for: out of `list` and `stats` unless asked
    ),
    JobKind(
        name="failure_watch",
        runs_as="FailureWatcher",
        shape=Shape.WORKFLOW,
        request=FailureWatchInput,
        result=FailureWatchReport,
        policy="failure-watch",
        internal=True,
        enqueued=False,  # started every minute by the failure-watch schedule: alerts activity-shaped jobs that failed
    ),
)

NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
"""A kind's name: it prefixes job ids and names routes, so lower-case letters, digits and `_` (no `-`)."""


class KindRegistry(Mapping[str, JobKind]):
    """The kinds by name, and by the Temporal types that run them. Built-in kinds first, then plugins."""

    def __init__(self, kinds: Sequence[JobKind]) -> None:
        self._by_name: dict[str, JobKind] = {}
        self._by_type: dict[str, JobKind] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: JobKind) -> None:
        """Register `kind`; a name or Temporal type that is already taken is an error (two lists would drift)."""
        if self._by_name.get(kind.name) is kind:
            return  # the same kind again (an entry point naming what its module registered already)
        if not NAME.match(kind.name):
            raise ValueError(f"job kind name {kind.name!r}: lower-case letters, digits and '_', at most 31")
        taken = [t for t in kind.types if t in self._by_type]
        if kind.name in self._by_name or taken:
            raise ValueError(f"job kind {kind.name!r} is registered twice (or its type {taken} is)")
        self._by_name[kind.name] = kind
        self._by_type.update(dict.fromkeys(kind.types, kind))

    def remove(self, kind: JobKind) -> None:
        """Withdraw a kind a team registered (a test that imported a module of `@job` functions, then drops it)."""
        if kind in BUILT_IN:
            raise ValueError(f"job kind {kind.name!r} is Conveyor's own")
        del self._by_name[kind.name]
        for t in kind.types:
            self._by_type.pop(t, None)

    def __getitem__(self, name: str) -> JobKind:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def of_type(self, temporal_type: str) -> JobKind | None:
        """The kind a workflow or activity type runs; None for executions that are not Conveyor jobs."""
        return self._by_type.get(temporal_type)

    def of_id(self, job_id: str) -> JobKind | None:
        """The kind a job id names by its prefix (`email-...`), if any."""
        return self._by_name.get(job_id.partition("-")[0])

    def own(self) -> list[JobKind]:
        """The kinds a team defined outside Conveyor (`@job` functions, plugins), as the dev banner and
        `conveyor doctor` list them."""
        return [k for k in self._by_name.values() if k not in BUILT_IN]

    def enqueued(self) -> list[JobKind]:
        """The kinds producers enqueue by name."""
        return [k for k in self._by_name.values() if k.enqueued]

    def types(self, shape: Shape | None = None) -> list[str]:
        """Every Temporal type of every kind (as executions of `shape`, when given)."""
        if shape is None:
            return list(self._by_type)
        return [t for k in self._by_name.values() for t in k.types_of(shape)]


def load_plugins(registry: KindRegistry, environ: Mapping[str, str] = os.environ) -> None:
    """Add the kinds of installed packages (`conveyor.kinds` entry points), of `CONVEYOR_KINDS` paths, and the
    `@job` functions of the modules in `CONVEYOR_JOBS`.

    An entry point may name a `JobKind` or a module of `@job` functions (`myapp.jobs`, no attribute)."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if not isinstance(loaded, ModuleType):  # a module registered its @job functions by being imported
            registry.add(_checked(loaded, entry.value))
    for path in _listed(environ.get(KINDS_VARIABLE, "")):
        module, _, attribute = path.partition(":")
        registry.add(_checked(getattr(importlib.import_module(module), attribute or "KIND"), path))
    load_job_modules(environ.get(JOBS_VARIABLE, ""))


def load_job_modules(modules: str) -> list[str]:
    """Import the comma-separated `modules` (`myapp.jobs,billing.jobs`): their `@job` functions register
    themselves in `KINDS` as they are defined. Returns the module names.

    The working directory is searched last, as Celery and uvicorn do: `conveyor worker --jobs myapp.jobs` run
    from the project's directory finds `myapp` without a PYTHONPATH (a console script's path has no `.`)."""
    names = _listed(modules)
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        importlib.import_module(name)
    return names


def _listed(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _checked(value: object, where: str) -> JobKind:
    if not isinstance(value, JobKind):
        raise TypeError(f"{where} is not a conveyor JobKind")
    return value


KINDS = KindRegistry(BUILT_IN)
"""Every job kind: Conveyor's own, then those of installed packages and `CONVEYOR_KINDS`."""


def kind_of(temporal_type: str) -> JobKind | None:
    """The kind a workflow or activity type runs; None for executions that are not Conveyor jobs."""
    return KINDS.of_type(temporal_type)


# Last, so that a team's module loaded here finds this one complete (a `@job.workflow` module imports the
# workflows' base, which imports `kind_of`).
load_plugins(KINDS)
