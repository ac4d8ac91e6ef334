"""`@job`: a team's own job declared as one function, which is also the producer's handle on it.

    @job(attempts=8, timeout="30s", max_retry_wait="1m", never_retry=(CrmRejected,), queue="crm")
    def crm_sync(customer: Customer) -> SyncResult: ...

    crm_sync.enqueue(customer, key="c1")          # from a Django view or a script
    await crm_sync.aenqueue(customer)             # from async code
    crm_sync(customer)                            # inline, in a unit test

Decorating registers a `JobKind` (`contracts.kinds.KINDS`) of the activity shape: its request model is the
function's one pydantic parameter, or a model built from its JSON-typed parameters; its result model is the
return annotation (a plain JSON type rides in a `RootModel`, unwrapped again for the caller); its policy row is
the decorator's arguments. Every surface then has it: `conveyor enqueue`, `POST /jobs/<kind>`, status, list,
failed, stats, retry, cancel, alerts, metrics.

Why here, in the producer's package: producers and the worker both import the team's module; this module loads
pydantic and the contracts only (the Temporal client loads on the first enqueue), and the worker hosts the
function through `activities.team_jobs` (the producer never imports activities).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import re
import threading
import typing
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from pydantic import BaseModel, ConfigDict, RootModel, create_model
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.errors import JobError
from contracts.flow import Debounce, PerKey, Throttle
from contracts.kinds import DEFAULT_QUEUE, KINDS, JobKind, Shape
from contracts.policy import JobPolicy
from contracts.progress import REPORTER, Progress

if TYPE_CHECKING:
    from conveyor.client import JobHandle, Jobs
    from conveyor.settings import Settings
    from conveyor.status import JobStatus
    from conveyor.sync import SyncJobHandle, SyncJobs

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)
W = TypeVar("W")

WORKFLOW_POLICY = JobPolicy(
    attempt_timeout=timedelta(minutes=5),
    first_retry=timedelta(seconds=1),
    backoff=2.0,
    max_retry_wait=timedelta(minutes=5),
    max_attempts=10,
)
"""The row of a `@job.workflow` kind: a workflow is not retried as a whole; each step keeps its own job's row."""

Duration = timedelta | float | str
"""A duration: a `timedelta`, seconds, or `"30s"`, `"5m"`, `"2h"`, `"1d"`."""

ENQUEUE_OPTIONS = ("key", "delay", "priority", "tenant", "tenant_weight")
"""Keyword arguments of `enqueue` itself: a job function's parameters may not use these names."""

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: Duration) -> timedelta:
    """`value` as a `timedelta`; `ValueError` for anything else (a typo in a decorator fails at import)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*", value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"a duration is a timedelta, seconds, or like '30s', '5m', '2h': not {value!r}")
    return timedelta(seconds=float(found[1]) * _UNITS[found[2]])


class JobFunction(Generic[P, R]):
    """A `@job` function: call it to run it inline; `enqueue` / `aenqueue` it to run it as a job."""

    def __init__(
        self, fn: Callable[P, R], name: str, policy: JobPolicy, never_retry: tuple[type[Exception], ...], **kind: Any
    ) -> None:
        hints = typing.get_type_hints(fn, include_extras=True)
        request, self._unpacked = _input_model(fn, hints)
        self.fn = fn
        self._never_retry = never_retry
        self.kind = JobKind(
            name=name,
            runs_as=kind.pop("runs_as", name),
            shape=Shape.ACTIVITY,
            request=request,
            result=_result_model(hints),
            policy=policy,
            function=self.arun if inspect.iscoroutinefunction(fn) else self.run,
            **kind,
        )
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """The kind's name: the prefix of its job ids, its activity type, its route (`POST /jobs/<name>`)."""
        return self.kind.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, as plain Python (unit tests): no Temporal, no retries."""
        return self.fn(*args, **kwargs)

    def _inputs(self, *args: Any, **kwargs: Any) -> BaseModel | Mapping[str, Any]:
        """The enqueued input, left for `Jobs.enqueue` to validate so bad input raises `InvalidJobError`."""
        if not self._unpacked or (len(args) == 1 and not kwargs and isinstance(args[0], Mapping | BaseModel)):
            (value,) = args or tuple(kwargs.values())
            return typing.cast(BaseModel | Mapping[str, Any], value)
        try:
            return dict(inspect.signature(self.fn).bind(*args, **kwargs).arguments)
        except TypeError as e:
            from conveyor.errors import InvalidJobError

            raise InvalidJobError(f"invalid {self.name} job: {e}") from None

    def _call(self, request: BaseModel) -> Any:
        fn: Callable[..., Any] = self.fn
        if not self._unpacked:
            return fn(request)
        return fn(**{name: getattr(request, name) for name in type(request).model_fields})

    def run(self, request: BaseModel) -> Any:
        """Run a plain function on a validated request, as the worker does (see `_typed_failures`)."""
        with self._typed_failures():
            return self._call(request)

    async def arun(self, request: BaseModel) -> Any:
        """Run a coroutine function on a validated request, as the worker does (see `_typed_failures`)."""
        with self._typed_failures():
            return await self._call(request)

    @contextlib.contextmanager
    def _typed_failures(self) -> Iterator[None]:
        """A `never_retry` exception leaves typed by its class name and non-retryable (so even a run started
        without the kind's policy, e.g. re-run from the web UI, does not retry it); a `JobError` as its type."""
        try:
            yield
        except JobError as e:
            raise e.to_application_error() from None
        except self._never_retry as e:
            details = [{"attempt": activity.info().attempt}] if activity.in_activity() else []
            raise ApplicationError(str(e), *details, type=type(e).__name__, non_retryable=True) from None

    # Producing. The Temporal client loads here, on first use, not when the team's module is imported.

    def enqueue(
        self,
        *args: Any,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
        **kw: Any,
    ) -> SyncEnqueued[R]:
        """Enqueue a job from code without an event loop (a Django or Flask view, a script): validated here
        (`InvalidJobError`, nothing enqueued); `key` makes it idempotent, `delay` starts it later, `priority` 1-5,
        `tenant` names whose job it is (dispatched fairly against other tenants', `tenant_weight` its share)."""
        inputs = self._inputs(*args, **kw)
        handle = shared_sync_jobs().enqueue(
            self.name, inputs, key=key, delay=delay, priority=priority, tenant=tenant, tenant_weight=tenant_weight
        )
        return SyncEnqueued(handle.id, handle, self._unwrap)

    async def aenqueue(
        self,
        *args: Any,
        key: str | None = None,
        delay: timedelta | None = None,
        priority: int | None = None,
        tenant: str | None = None,
        tenant_weight: float | None = None,
        **kw: Any,
    ) -> Enqueued[R]:
        """`enqueue` for async code."""
        jobs = await shared_jobs()
        handle = await jobs.enqueue(
            self.name,
            self._inputs(*args, **kw),
            key=key,
            delay=delay,
            priority=priority,
            tenant=tenant,
            tenant_weight=tenant_weight,
        )
        return Enqueued(handle.id, handle, self._unwrap)

    def get_result(self, job_id: str) -> SyncEnqueued[R]:
        """The handle of an existing job of this kind by its id (`JobNotFound` if there is none)."""
        handle = shared_sync_jobs().locate(job_id)
        self._check_kind(job_id, handle.kind)
        return SyncEnqueued(handle.id, handle, self._unwrap)

    async def aget_result(self, job_id: str) -> Enqueued[R]:
        """`get_result` for async code."""
        handle = await (await shared_jobs()).locate(job_id)
        self._check_kind(job_id, handle.kind)
        return Enqueued(handle.id, handle, self._unwrap)

    async def step(self, *args: Any, **kwargs: Any) -> R:
        """Run this job as one step of a team's workflow (`@job.workflow`), under the job's own policy: its
        attempts, timeouts, backoff and `never_retry`. Call it only inside a workflow. Its input is checked by the
        step itself (bad input fails it at once as `InvalidJob`); a failure that ends it raises `ActivityError`
        in the workflow, as any activity's does. It runs on the workflow's task queue, or on the job's own queue
        when it names one (`@job(queue="crm")`)."""
        from temporalio import workflow

        policy = self.kind.policy
        assert isinstance(policy, JobPolicy)  # @job always gives its kind the row itself
        queue = None if self.kind.queue == DEFAULT_QUEUE else self.kind.queue
        result = await workflow.execute_activity(
            self.kind.runs_as,
            self._inputs(*args, **kwargs),
            result_type=self.kind.result,
            task_queue=typing.cast(str | None, queue),
            **policy.activity_options(),
        )
        return self._unwrap(result)

    def _check_kind(self, job_id: str, kind: JobKind | None) -> None:
        if kind is not self.kind:
            from conveyor.errors import JobNotFound

            raise JobNotFound(f"no {self.name} job {job_id!r}")

    def _unwrap(self, value: Any) -> R:
        return typing.cast(R, value.root if isinstance(value, RootModel) else value)


@dataclass(frozen=True)
class Enqueued(Generic[R]):
    """A job enqueued from async code: its id, and its typed result."""

    id: str
    handle: JobHandle
    _unwrap: Callable[[Any], R]

    async def result(self) -> R:
        """Wait for the job to end: the function's return value, or `JobFailed` naming the failure's type."""
        return self._unwrap(await self.handle.result())

    async def status(self) -> JobStatus:
        """The job's state, attempts, failure and progress (as `conveyor status` shows them)."""
        return await (await shared_jobs()).status(self.id)


@dataclass(frozen=True)
class SyncEnqueued(Generic[R]):
    """A job enqueued from code without an event loop: its id, and a blocking wait for its typed result."""

    id: str
    handle: SyncJobHandle
    _unwrap: Callable[[Any], R]

    def result(self, timeout: float | None = None) -> R:
        """Block until the job ends: the function's return value, `JobFailed`, or `JobTimeout` after `timeout`
        seconds (the job goes on)."""
        return self._unwrap(self.handle.result(timeout))

    def status(self) -> JobStatus:
        """The job's state, attempts, failure and progress (as `conveyor status` shows them)."""
        return shared_sync_jobs().status(self.id)


_settings: Settings | None = None
_shared_sync: SyncJobs | None = None
_shared_lock = threading.Lock()
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Jobs] = weakref.WeakKeyDictionary()


def shared_sync_jobs() -> SyncJobs:
    """One `SyncJobs` per process for every `@job`'s `enqueue` (its loop thread and connection are shared), and
    for what builds on them (the Django task backend)."""
    global _shared_sync
    with _shared_lock:
        if _shared_sync is None:
            from conveyor.sync import SyncJobs

            _shared_sync = SyncJobs(_settings)
        return _shared_sync


async def shared_jobs() -> Jobs:
    """One `Jobs` per event loop (a Temporal client is bound to the loop that made it)."""
    loop = asyncio.get_running_loop()
    if loop not in _per_loop:
        from conveyor.client import Jobs

        jobs = await Jobs.connect(_settings)
        _per_loop.setdefault(loop, jobs)
    return _per_loop[loop]


def configure(settings: Settings | None) -> Settings | None:
    """Point every `@job` handle of this process at `settings` (None: the `CONVEYOR_*` variables, the default),
    e.g. a test's own server; connections made for the previous settings are dropped. Returns the settings it
    replaces, to point the handles back there afterwards."""
    global _settings, _shared_sync
    with _shared_lock:
        replaced, previous = _settings, _shared_sync
        _settings, _shared_sync = settings, None
        _per_loop.clear()
    if previous is not None:
        previous.close()
    return replaced


def _input_model(fn: Callable[..., Any], hints: dict[str, Any]) -> tuple[type[BaseModel], bool]:
    """The request model and whether the function takes it unpacked (JSON-typed parameters) or whole."""
    parameters = list(inspect.signature(fn).parameters.values())
    if len(parameters) == 1 and isinstance(hints.get(parameters[0].name), type):
        annotation = hints[parameters[0].name]
        if issubclass(annotation, BaseModel):
            return annotation, False
    fields: dict[str, Any] = {}
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise TypeError(f"@job {fn.__name__}: parameters must be named (no *args, **kwargs or positional-only)")
        if p.name in ENQUEUE_OPTIONS:
            raise TypeError(f"@job {fn.__name__}: {p.name!r} is an option of enqueue(); name the parameter otherwise")
        fields[p.name] = (hints.get(p.name, Any), ... if p.default is p.empty else p.default)
    model = create_model(
        f"{_camel(fn.__name__)}Job",
        __config__=ConfigDict(frozen=True, extra="forbid"),
        __doc__=inspect.getdoc(fn),
        **fields,
    )
    return typing.cast(type[BaseModel], model), True


def _result_model(hints: dict[str, Any]) -> type[BaseModel]:
    annotation = hints.get("return", Any)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return RootModel[annotation]  # type: ignore[valid-type]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@dataclass(frozen=True)
class _Declare:
    """What `@job(...)` was given; applied to the function it decorates."""

    name: str | None
    policy: JobPolicy
    never_retry: tuple[type[Exception], ...]
    queue: str
    stage: str
    example: Mapping[str, Any] | None
    flow: Mapping[str, Any]
    """`concurrency`, `debounce`, `throttle`: flow control per key, as given."""

    def __call__(self, fn: Callable[P, R]) -> JobFunction[P, R]:
        declared = JobFunction(
            fn,
            self.name or fn.__name__,
            self.policy,
            self.never_retry,
            queue=self.queue,
            stage=self.stage,
            example=self.example,
            **self.flow,
        )
        if self.example is not None:
            declared.kind.request.model_validate(self.example)  # a wrong example fails at import, not in the docs
        KINDS.add(declared.kind)
        return declared


class _JobDecorator:
    """`job` itself: `@job`, `@job(...)`, and the helpers a job function calls while it runs."""

    @overload
    def __call__(self, fn: Callable[P, R], /) -> JobFunction[P, R]: ...

    @overload
    def __call__(
        self,
        *,
        name: str | None = None,
        attempts: int = 10,
        timeout: Duration = "5m",
        first_retry: Duration = "1s",
        backoff: float = 2.0,
        max_retry_wait: Duration = "5m",
        heartbeat: Duration | None = "30s",
        never_retry: tuple[type[Exception], ...] = (),
        queue: str = DEFAULT_QUEUE,
        stage: str = "running",
        example: Mapping[str, Any] | None = None,
        policy: JobPolicy | None = None,
        concurrency: PerKey | None = None,
        debounce: Debounce | None = None,
        throttle: Throttle | None = None,
    ) -> _Declare: ...

    def __call__(  # type: ignore[misc]  # mypy misreads the keyword-only overload against `fn, /`
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        attempts: int = 10,
        timeout: Duration = "5m",
        first_retry: Duration = "1s",
        backoff: float = 2.0,
        max_retry_wait: Duration = "5m",
        heartbeat: Duration | None = "30s",
        never_retry: tuple[type[Exception], ...] = (),
        queue: str = DEFAULT_QUEUE,
        stage: str = "running",
        example: Mapping[str, Any] | None = None,
        policy: JobPolicy | None = None,
        concurrency: PerKey | None = None,
        debounce: Debounce | None = None,
        throttle: Throttle | None = None,
    ) -> JobFunction[..., Any] | _Declare:
        """Declare a job. Each attempt may take `timeout`; a failed attempt is retried after `first_retry`, each
        wait growing by `backoff` up to `max_retry_wait`, `attempts` attempts in all; exceptions of the
        `never_retry` classes (and bad input, `InvalidJob`) fail the job at once. A worker that dies is noticed
        after `heartbeat` (kept alive while the function runs). `policy` gives the whole row instead. `queue` is a
        role (`default`) or a task queue of the job's own, which the worker serves too. `example` (a valid input
        as JSON) is shown in the HTTP API's OpenAPI document. `concurrency=PerKey("customer_id", limit=1)` runs at
        most `limit` jobs with the same key at once, the others waiting in order; `debounce=Debounce("customer_id",
        wait=timedelta(seconds=30))` runs once with the latest input after 30 s without a new one; `throttle=
        Throttle("customer_id", every=timedelta(minutes=10))` at most once per 10 minutes (see flow control)."""
        if policy is None:
            policy = JobPolicy(
                attempt_timeout=duration(timeout),
                first_retry=duration(first_retry),
                backoff=backoff,
                max_retry_wait=duration(max_retry_wait),
                max_attempts=attempts,
                heartbeat_timeout=None if heartbeat is None else duration(heartbeat),
            )
        named = tuple(dict.fromkeys(("InvalidJob", *policy.never_retry, *(e.__name__ for e in never_retry))))
        row = dataclasses.replace(policy, never_retry=named)
        flow = {"concurrency": concurrency, "debounce": debounce, "throttle": throttle}
        declare = _Declare(name, row, never_retry, queue, stage, example, flow)
        return declare if fn is None else declare(fn)

    @staticmethod
    def progress(
        stage: str | None = None,
        *,
        done: int = 0,
        total: int | None = None,
        unit: str | None = None,
        percent: int | None = None,
        detail: str | None = None,
        resume: BaseModel | None = None,
    ) -> None:
        """Report how far the running job is (`conveyor status` shows it), and the state a retried attempt
        resumes from (`job.resumed(Model)`). Does nothing outside a worker (a unit test calling it inline)."""
        reporter = REPORTER.get()
        if reporter is not None:
            progress = Progress(stage=stage, done=done, total=total, unit=unit, percent=percent, detail=detail)
            reporter(progress, resume)

    @staticmethod
    def current_id() -> str | None:
        """The id of the job running this code (`crm_sync-<key>`), e.g. as an idempotency key for the service it
        calls; None outside a worker."""
        if not activity.in_activity():
            return None
        info = activity.info()
        return info.workflow_id or info.activity_id  # run as a one-step workflow, the workflow is the job

    configure = staticmethod(configure)

    @staticmethod
    def workflow(
        cls: type[W] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = DEFAULT_QUEUE,
        example: Mapping[str, Any] | None = None,
        concurrency: PerKey | None = None,
        debounce: Debounce | None = None,
        throttle: Throttle | None = None,
    ) -> Any:
        """Declare a team's `@workflow.defn` class as a job of several steps: its `@job` functions, run with
        `await crm_sync.step(...)`, with timers and signals between them. `concurrency`, `debounce` and `throttle`
        control its jobs per key as `@job`'s do. Its kind (named after the workflow's
        type in snake case unless `name` is given) is workflow-shaped: enqueued, listed, shown and alerted like
        Conveyor's own workflows; its request and result models are its run method's parameter and return
        annotation. Subclass `conveyor.team_workflows.JobWorkflow` for its `status` query and failure alerts."""

        def declare(cls: type[W]) -> type[W]:
            definition = getattr(cls, "__temporal_workflow_definition", None)
            if definition is None or definition.run_fn is None or definition.name is None:
                raise TypeError(f"@job.workflow {cls.__name__}: decorate a @workflow.defn class (below this)")
            hints = typing.get_type_hints(definition.run_fn)
            request = next((h for k, h in hints.items() if k != "return"), None)
            if not (isinstance(request, type) and issubclass(request, BaseModel)):
                raise TypeError(f"@job.workflow {cls.__name__}: its run method takes one pydantic model")
            kind = JobKind(
                name=name or _snake(definition.name),
                runs_as=definition.name,
                shape=Shape.WORKFLOW,
                request=request,
                result=_result_model(hints),
                policy=WORKFLOW_POLICY,
                queue=queue,
                example=example,
                workflow=cls,
                concurrency=concurrency,
                debounce=debounce,
                throttle=throttle,
            )
            if example is not None:
                request.model_validate(example)
            KINDS.add(kind)
            return cls

        return declare if cls is None else declare(cls)

    @staticmethod
    def resumed(model: type[M]) -> M | None:
        """The resume state the job's previous attempt last reported with `job.progress(..., resume=...)`."""
        if not activity.in_activity():
            return None
        details = activity.info().heartbeat_details  # (progress, resume state): see `activities.liveness`
        return model.model_validate(details[1]) if len(details) > 1 else None


job = _JobDecorator()
"""Declare a team's own job: `@job` or `@job(attempts=..., timeout=..., never_retry=(...), queue=...)`."""
