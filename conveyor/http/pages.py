"""The jobs page under `/ui`: counts per kind and queue with the workers polling each, lists per state with the
failure reasons and progress, one job's view with its (masked) input, retry / retry all shown / cancel / run now (a
delayed job), and the schedules with pause / resume / run now — for people used to Bull Board or Flower.

Server-rendered HTML (Jinja2, imported here only, so `import conveyor` stays light), readable without JavaScript;
the overview refreshes itself with a `<meta http-equiv="refresh">`. It reads the same `Jobs` calls as the JSON API
and the CLI, so its counts are `conveyor stats`' counts.

Log-in takes one of the API keys once and keeps a random session id in an HttpOnly, SameSite=Strict cookie
(Secure over https); the key itself is never stored in the cookie nor rendered. Every POST carries the session's
CSRF token, and a POST whose `Origin` is another site's is refused as well. Sessions live in the API process:
restarting it logs everyone out.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from contracts.input_checks import TENANT_PATTERN
from contracts.kinds import KINDS
from contracts.states import JobState
from conveyor import schedules
from conveyor.client import KEY_PATTERN, Jobs
from conveyor.counting import queues_of
from conveyor.http.guards import key_matches
from conveyor.http.masking import masked
from conveyor.operations import bounded, shown_kinds
from conveyor.settings import Settings
from conveyor.status import ui_link
from conveyor.workers import live_workers

if TYPE_CHECKING:
    import jinja2

ROOT = "/ui"
COOKIE = "conveyor_session"
SESSION_SECONDS = 12 * 3600
REFRESH_SECONDS = 5
KEY_PATTERN_RE = re.compile(KEY_PATTERN)


def tenant_filter(tenant: str | None) -> str | None:
    """The page's tenant filter: empty is none; one that is no tenant is a 422, before any query."""
    if not tenant:
        return None
    if not re.fullmatch(TENANT_PATTERN, tenant):
        raise HTTPException(422, "a tenant is 1-64 of letters, digits and _ . : @ + = -")
    return tenant


PAGE = 50
NAV_STATES = ("queued", "scheduled", "running", "retrying", "failed", "completed")
COUNTED = [JobState(s) for s in NAV_STATES]
"""The states the overview counts: those `conveyor stats` users read (cancelled and the like stay in the lists)."""
FAILED_LIKE = {JobState.FAILED, JobState.CANCELLED, JobState.TERMINATED, JobState.TIMED_OUT}
WITH_PROGRESS = {JobState.RUNNING, JobState.RETRYING}
"""The states whose list shows each job's progress (one status read per row shown)."""
SCHEDULE_ACTIONS = ("pause", "resume", "trigger")


@dataclass
class Sessions:
    """Logged-in browsers: session id -> (CSRF token, expiry). In memory, in the one API process."""

    live: dict[str, tuple[str, float]] = field(default_factory=dict)

    def open(self) -> str:
        """A new session's id."""
        now = time.monotonic()
        self.live = {sid: v for sid, v in self.live.items() if v[1] > now}  # forget expired ones as we go
        sid = secrets.token_urlsafe(32)
        self.live[sid] = (secrets.token_urlsafe(32), now + SESSION_SECONDS)
        return sid

    def csrf(self, sid: str | None) -> str | None:
        """The CSRF token of a live session, None if `sid` names none."""
        found = self.live.get(sid or "")
        return found[0] if found and found[1] > time.monotonic() else None

    def close(self, sid: str | None) -> None:
        """End a session (log out)."""
        self.live.pop(sid or "", None)


def templates() -> jinja2.Environment:
    """The pages' templates, autoescaped (every value a job carries is someone's input)."""
    import jinja2

    loader = jinja2.FileSystemLoader(Path(__file__).parent / "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    # JSON to read (an input, a result): as text, escaped like any other, rather than `tojson`'s \u003c for `<`.
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return env


async def form_of(request: Request) -> dict[str, list[str]]:
    """A urlencoded form body (the pages' POSTs), without needing python-multipart."""
    return parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=1000)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (`Origin`, sent with every cross-site
    POST, `null` from sandboxed frames and `about:` pages)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def add_pages(app: FastAPI, settings: Settings) -> None:
    """Mount the jobs page on `app` under `/ui`."""
    env = templates()
    sessions = Sessions()
    router = APIRouter(prefix=ROOT, include_in_schema=False)

    def render(name: str, csrf: str | None, status: int = 200, **values: Any) -> HTMLResponse:
        page = env.get_template(name).render(
            {"root": ROOT, "csrf": csrf, "nav_states": NAV_STATES, "refresh": None} | values
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    def session(request: Request) -> str | None:
        return sessions.csrf(request.cookies.get(COOKIE))

    async def posted(request: Request) -> dict[str, list[str]]:
        """The form of an authorized POST: a live session, its CSRF token, and no other site's Origin."""
        form = await form_of(request)
        csrf = session(request)
        given = (form.get("csrf") or [""])[0]
        if csrf is None or not same_origin(request) or not hmac.compare_digest(given.encode(), csrf.encode()):
            raise HTTPException(403, "log in on the jobs page first (or the form was not sent from it)")
        return form

    def jobs_of(request: Request) -> Jobs:
        jobs: Jobs = request.app.state.jobs
        return jobs

    def to_login() -> RedirectResponse:
        return RedirectResponse(f"{ROOT}/login", status_code=303)

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        return render("login.html", None, title="Log in", error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not same_origin(request):
            raise HTTPException(403, "the log-in form was sent from another site")
        key = ((await form_of(request)).get("key") or [""])[0]
        if not key_matches(key, settings.api_keys):
            return render("login.html", None, status=401, title="Log in", error="That is not one of the API keys.")
        response = RedirectResponse(ROOT, status_code=303)
        response.set_cookie(
            COOKIE, sessions.open(), max_age=SESSION_SECONDS, path=ROOT, httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        await posted(request)
        sessions.close(request.cookies.get(COOKIE))
        response = to_login()
        response.delete_cookie(COOKIE, path=ROOT)
        return response

    @router.get("")
    async def overview(request: Request, tenant: str | None = None) -> Response:
        if (csrf := session(request)) is None:
            return to_login()
        jobs = jobs_of(request)
        tenant = tenant_filter(tenant)
        queues = queues_of(shown_kinds(False), jobs.settings.queues)  # every queue a row may show: asked meanwhile
        stats, pollers = await asyncio.gather(
            jobs.stats(tenant=tenant), live_workers(jobs.client, jobs.settings.namespace, queues)
        )
        return render(
            "overview.html", csrf, title="Jobs", stats=stats, states=[s.value for s in COUNTED], pollers=pollers,
            refresh=REFRESH_SECONDS, tenant=tenant,
        )  # fmt: skip

    @router.get("/jobs")
    async def listing(
        request: Request, state: JobState = JobState.FAILED, kind: str | None = None, key: str | None = None,
        limit: int = PAGE, tenant: str | None = None,
    ) -> Response:  # fmt: skip
        if (csrf := session(request)) is None:
            return to_login()
        kind = kind if kind in KINDS else None
        key = key or None
        if key is not None and not KEY_PATTERN_RE.fullmatch(key):
            raise HTTPException(422, "a key is 1-200 of letters, digits and _ . : @ + = -")
        limit, tenant = min(max(limit, 1), 1000), tenant_filter(tenant)
        jobs = jobs_of(request)
        rows = await jobs.list(kind, state, key, None, limit, tenant=tenant)
        links = {r.id: ui_link(jobs.settings.web_ui, jobs.settings.namespace, r.id, r.shape, r.run_id) for r in rows}
        progress: dict[str, int | None] = {}
        if state in WITH_PROGRESS:
            statuses = await bounded(rows, lambda r: jobs.status(r.id))
            progress = {s.id: s.progress for s in statuses}
        query = {k: v for k, v in {"state": state.value, "kind": kind, "key": key, "tenant": tenant}.items() if v}
        return render(
            "jobs.html", csrf, title=f"{state.value.capitalize()} jobs", rows=rows, state=state.value, kind=kind,
            key=key, tenant=tenant, kinds=[k.name for k in KINDS.enqueued()], all_states=[s.value for s in JobState],
            limit=limit, ui_links=links, progress=progress,
            more=f"{ROOT}/jobs?{urlencode(query | {'limit': limit * 2})}",
        )  # fmt: skip

    @router.get("/job")
    async def job(request: Request, id: str) -> Response:
        if (csrf := session(request)) is None:
            return to_login()
        jobs = jobs_of(request)
        status = await jobs.status(id)
        shown = masked(await jobs.input(status.id), settings.api_keys)
        return render("job.html", csrf, title=f"Job {status.id}", job=status, input=shown, notice=None)

    async def on_job(request: Request, action: Callable[[Jobs, str], Awaitable[object]]) -> Response:
        """A per-job button: its one job acted on, then the job's view again."""
        job_id = one_id(await posted(request))
        await action(jobs_of(request), job_id)
        return RedirectResponse(f"{ROOT}/job?{urlencode({'id': job_id})}", status_code=303)

    @router.post("/retry")
    async def retry(request: Request) -> Response:
        return await on_job(request, Jobs.retry)

    @router.post("/cancel")
    async def cancel(request: Request) -> Response:
        return await on_job(request, Jobs.cancel)

    @router.post("/run-now")
    async def run_now(request: Request) -> Response:
        return await on_job(request, Jobs.run_now)

    @router.post("/retry-all")
    async def retry_all(request: Request) -> Response:
        form = await posted(request)
        ids = list(dict.fromkeys(form.get("id", [])))
        csrf = session(request)
        if form.get("confirmed") != ["yes"]:
            return render("confirm.html", csrf, title=f"Retry {len(ids)} jobs?", ids=ids)
        jobs = jobs_of(request)
        for job_id in ids:
            await jobs.retry(job_id)
        return RedirectResponse(f"{ROOT}/jobs?state=failed", status_code=303)

    @router.get("/schedules")
    async def schedule_list(request: Request) -> Response:
        if (csrf := session(request)) is None:
            return to_login()
        found = await schedules.rows(jobs_of(request).client)
        return render("schedules.html", csrf, title="Schedules", rows=found)

    @router.post("/schedules")
    async def schedule_action(request: Request) -> Response:
        form = await posted(request)
        action = (form.get("do") or [""])[0]
        if action not in SCHEDULE_ACTIONS:
            raise HTTPException(422, f"do is one of {', '.join(SCHEDULE_ACTIONS)}")
        schedule_id = one_id(form)
        verb = cast(Literal["pause", "resume", "trigger"], action)
        try:
            await schedules.operate(jobs_of(request).client, schedule_id, verb)
        except schedules.ScheduleNotFound as e:
            raise HTTPException(404, str(e)) from None
        return RedirectResponse(f"{ROOT}/schedules", status_code=303)

    app.include_router(router)


def one_id(form: dict[str, list[str]]) -> str:
    """The one job id a per-job action names."""
    ids = form.get("id", [])
    if len(ids) != 1 or not ids[0]:
        raise HTTPException(422, "name one job (id)")
    return ids[0]
