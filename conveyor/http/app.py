"""The routes: `POST /jobs/{email,sms,report}`, `GET /jobs/{id}`, retry, cancel, listings, stats, health.

Every route but `/healthz` needs an API key. Delay and priority are query parameters, so the body of
`POST /jobs/<kind>` is exactly the job's request model, the same JSON a Temporal client or `conveyor` sends.
"""

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.responses import JSONResponse

from contracts.input_checks import MAX_DELAY, TENANT_PATTERN
from contracts.kinds import KINDS, JobKind
from contracts.states import JobState
from contracts.webhook import EVENT_TYPE
from conveyor.client import KEY_PATTERN, Jobs
from conveyor.connection import connect
from conveyor.errors import InvalidJobError
from conveyor.http import errors, pages
from conveyor.http.errors import PROBLEMS, Problem
from conveyor.http.examples import EXAMPLES
from conveyor.http.guards import BodyLimit, JsonBody, UrlKeyGuard, bearer, require_key, scrub_access_log
from conveyor.operations import JobStats, JobSummary
from conveyor.settings import Settings
from conveyor.status import JobStatus
from conveyor.telemetry import metrics_runtime
from conveyor.tenants import MAX_WEIGHT, MIN_WEIGHT

KIND_PATTERN = f"^({'|'.join(KINDS)})$"
_ISO_DURATION = TypeAdapter(timedelta)
SECONDS = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?")
JOB_ID = Path(description="A job id, e.g. `email-order-1234`.", min_length=1, max_length=255)
KEY = Header(
    None,
    alias="Idempotency-Key",
    pattern=KEY_PATTERN,
    description="Makes the request idempotent: the job id becomes `<kind>-<key>`; the same key enqueues once.",
)
DELAY = Query(
    None,
    description="Start later: seconds (`600`) or an ISO 8601 duration (`PT10M`, `P1D`); at most 365 days.",
    examples=["600", "PT10M"],
)
INTERNAL = Query(False, description="Also Conveyor's own housekeeping jobs (the failure watch, every minute).")
PRIORITY = Query(None, ge=1, le=5, description="1 (first) to 5 (last); default 3.")
TENANT = Query(None, pattern=TENANT_PATTERN, description="Whose job it is: the fairness key it is dispatched by.")
TENANT_FILTER = Query(None, pattern=TENANT_PATTERN, description="Only jobs of this tenant.")
TENANT_WEIGHT = Query(
    None, ge=MIN_WEIGHT, le=MAX_WEIGHT, description="The tenant's share of dispatch against others (default 1)."
)
KEY_REUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The Idempotency-Key names a job enqueued with different input."},
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such job."},
    409: {"model": Problem, "description": "The job's state does not allow this."},
}


class Enqueued(BaseModel):
    """The job that was enqueued (or, for a repeated `Idempotency-Key`, the job the key already names)."""

    id: str


class WebhookEvent(BaseModel):
    """An event for every enabled endpoint subscribed to its type: one webhook job each."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=EVENT_TYPE, description="The event type, e.g. `invoice.paid`.")
    payload: dict[str, Any] = Field(description="The event's data: the delivered body's `data`.")


class FannedOut(BaseModel):
    """The webhook jobs an event became (one per endpoint), and the endpoints refused (e.g. disabled meanwhile)."""

    ids: list[str]
    errors: list[str]


class Retried(BaseModel):
    """The job's new run, started by a retry."""

    id: str
    run_id: str


class Health(BaseModel):
    """Whether the API can reach Temporal."""

    temporal: str


def parse_delay(text: str | None) -> timedelta | None:
    """`600` (seconds) or `PT10M` (ISO 8601) -> timedelta, 0 to 365 days; `InvalidJobError` otherwise."""
    if text is None:
        return None
    try:
        delay = timedelta(seconds=float(text)) if SECONDS.fullmatch(text) else None
        delay = delay if delay is not None else _ISO_DURATION.validate_python(text)
    except (ValidationError, OverflowError):
        delay = None
    if delay is None or not timedelta(0) <= delay <= MAX_DELAY:
        raise InvalidJobError("delay must be seconds (600) or an ISO 8601 duration (PT10M), from 0 to 365 days")
    return delay


def jobs_of(request: Request) -> Jobs:
    """The app's `Jobs` client, made at startup."""
    jobs: Jobs = request.app.state.jobs
    return jobs


def add_enqueue_route(router: APIRouter, kind: JobKind) -> None:
    """`POST /jobs/<kind>`, its body typed by the kind's request model (so the OpenAPI document shows it)."""
    model: Any = kind.request
    examples = EXAMPLES.get(kind.name) or ({"example": {"value": kind.example}} if kind.example else {})

    async def enqueue(
        request: Request,
        job: Annotated[model, Body(openapi_examples=examples)],
        key: str | None = KEY,
        delay: str | None = DELAY,
        priority: int | None = PRIORITY,
        tenant: str | None = TENANT,
        tenant_weight: float | None = TENANT_WEIGHT,
    ) -> Enqueued:
        handle = await jobs_of(request).enqueue(
            kind.name,
            job,
            key=key,
            delay=parse_delay(delay),
            priority=priority,
            tenant=tenant,
            tenant_weight=tenant_weight,
        )
        return Enqueued(id=handle.id)

    summary = f"Enqueue a job: {kind.name}"
    router.post(f"/jobs/{kind.name}", status_code=202, summary=summary, responses=KEY_REUSED)(enqueue)


def create_app(settings: Settings, jobs: Jobs | None = None) -> FastAPI:
    """The API for `settings`. Without `jobs`, it connects to Temporal at startup (lazily: it starts, and
    `/healthz` says 503, while Temporal is down)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.jobs = jobs or Jobs(await connect(settings, metrics_runtime(settings), lazy=True), settings)
        yield

    app = FastAPI(
        title="Conveyor",
        summary="Durable background jobs (email, SMS, reports) on Temporal.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(JsonBody, exempt=f"{pages.ROOT}/")
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(UrlKeyGuard, keys=settings.api_keys)  # added last: runs first, before any route or log
    scrub_access_log(settings.api_keys)
    errors.install(app)
    check = require_key(settings.api_keys)

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        check(credentials)

    router = APIRouter(dependencies=[Depends(authorized)], responses=PROBLEMS, tags=["jobs"])
    for kind in KINDS.enqueued():
        add_enqueue_route(router, kind)

    @router.post("/webhooks/events", status_code=202, summary="Send an event to every subscribed webhook endpoint")
    async def webhook_event(
        request: Request, event: WebhookEvent, key: str | None = KEY, tenant: str | None = TENANT
    ) -> FannedOut:
        done = await jobs_of(request).webhook_event(event.type, event.payload, key=key, tenant=tenant)
        return FannedOut(
            ids=[d.id for d in done if not isinstance(d, Exception)],
            errors=[str(d) for d in done if isinstance(d, Exception)],
        )

    @router.get("/jobs/failed", summary="The dead-letter view: jobs that failed for good")
    async def failed(
        request: Request,
        kind: str | None = Query(None, description="Only jobs of this kind.", pattern=KIND_PATTERN),
        limit: int = Query(100, ge=1, le=1000),
        tenant: str | None = TENANT_FILTER,
    ) -> list[JobSummary]:
        return await jobs_of(request).failed(kind=kind, limit=limit, tenant=tenant)

    @router.get("/jobs/{job_id}", summary="A job's state, attempts, failure and progress", responses=JOB_ERRORS)
    async def status(request: Request, job_id: str = JOB_ID) -> JobStatus:
        return await jobs_of(request).status(job_id)

    @router.post("/jobs/{job_id}/retry", summary="Run a failed job again", responses=JOB_ERRORS)
    async def retry(request: Request, job_id: str = JOB_ID) -> Retried:
        return Retried(id=job_id, run_id=await jobs_of(request).retry(job_id))

    @router.post("/jobs/{job_id}/cancel", status_code=202, summary="Cancel a job", responses=JOB_ERRORS)
    async def cancel(request: Request, job_id: str = JOB_ID) -> Enqueued:
        await jobs_of(request).cancel(job_id)
        return Enqueued(id=job_id)

    @router.get("/jobs", summary="Find jobs by kind, state, key, recipient or tenant, newest first")
    async def list_jobs(
        request: Request,
        kind: str | None = Query(None, description="Only jobs of this kind.", pattern=KIND_PATTERN),
        state: JobState | None = None,
        key: str | None = Query(None, pattern=KEY_PATTERN, description="The Idempotency-Key given at enqueue."),
        recipient: str | None = Query(None, max_length=320, description="An email address or phone number."),
        limit: int = Query(100, ge=1, le=1000),
        include_internal: bool = INTERNAL,
        tenant: str | None = TENANT_FILTER,
    ) -> list[JobSummary]:
        found = jobs_of(request).list(
            kind, state, key, recipient, limit, include_internal=include_internal, tenant=tenant
        )
        return await found

    @router.get("/stats", summary="Job counts per kind, task queue and state (closed ones over the stats window)")
    async def stats(
        request: Request, include_internal: bool = INTERNAL, tenant: str | None = TENANT_FILTER
    ) -> JobStats:
        return await jobs_of(request).stats(include_internal=include_internal, tenant=tenant)

    app.include_router(router)
    pages.add_pages(app, settings)

    @app.get(
        "/healthz",
        summary="200 while Temporal is reachable, 503 otherwise (no key needed)",
        tags=["health"],
        responses={503: {"model": Health, "description": "Temporal is unreachable."}},
    )
    async def healthz(request: Request) -> Any:
        try:
            healthy = await jobs_of(request).client.service_client.check_health(timeout=timedelta(seconds=3))
        except Exception:  # whatever the reason, the answer is the same: not reachable
            healthy = False
        return Health(temporal="ok") if healthy else JSONResponse({"temporal": "unreachable"}, status_code=503)

    return app
