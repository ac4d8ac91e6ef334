"""Operating jobs: `conveyor retry`, `cancel`, `failed`, `list`, `stats` — what Bull Board's buttons do."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import typer
from rich.console import RenderableType
from rich.live import Live

from contracts.states import STATE_NAMES, JobState
from conveyor.cli.app import app, command, out, parse_duration
from conveyor.cli.output import show_table, table
from conveyor.client import Jobs
from conveyor.errors import InvalidJobError
from conveyor.operations import JobStats, JobSummary

KIND = typer.Option(None, "--kind", help="Only jobs of this kind, e.g. email.")
SINCE = typer.Option(None, "--since", help="Only jobs started within this long ago (1h, 2d) or since an ISO time.")
AS_JSON = typer.Option(False, "--json", help="Print JSON.")
TENANT = typer.Option(None, "--tenant", help="Only jobs of this tenant.")
ALL = typer.Option(False, "--all", help="Also Conveyor's own housekeeping jobs (the failure watch, every minute).")


def parse_since(text: str | None) -> datetime | None:
    """`2h` (ago) or `2026-11-23T10:00:00+00:00` -> an aware datetime."""
    if text is None:
        return None
    if text[-1:] in ("s", "m", "h", "d"):
        return datetime.now(UTC) - parse_duration(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidJobError(f"--since {text!r} must be a duration (2h) or an ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_state(text: str) -> JobState:
    """`--state` as a job state (`scheduled-for-later` is read as `scheduled`)."""
    try:
        return JobState(text)
    except ValueError:
        raise InvalidJobError(f"--state {text!r} must be one of {', '.join(STATE_NAMES)}") from None


JOB_COLUMNS = ("job", "kind", "state", "created", "failure")


def job_row(r: JobSummary) -> list[str]:
    """One job as table cells, with its failure when known."""
    failure = f"{r.failure.type}: {r.failure.message}" if r.failure else ""
    state = f"{r.state.value} (waiting for {r.waiting_for})" if r.waiting_for else r.state.value
    return [r.id, r.kind, state, f"{r.created_at:%Y-%m-%d %H:%M:%S}", failure]


def print_jobs(rows: list[JobSummary], as_json: bool) -> None:
    """Rows as JSON or as a table (ids whole; plain lines on a pipe)."""
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
    elif rows:
        show_table(JOB_COLUMNS, [job_row(r) for r in rows])
    else:
        out.print("no jobs")


@app.command()
@command
async def retry(
    job_id: str | None = typer.Argument(None, help="The failed job to run again."),
    all_failed: bool = typer.Option(False, "--all-failed", help="Retry every failed job (with --kind/--since)."),
    kind: str | None = KIND,
    since: str | None = SINCE,
    tenant: str | None = TENANT,
) -> None:
    """Run a failed job again from the start with the same input (a new run of the same job id)."""
    if (job_id is None) == (not all_failed):
        raise InvalidJobError("give a job id, or --all-failed")
    jobs = await Jobs.connect()
    if job_id is not None:
        run_id = await jobs.retry(job_id)
        out.print(f"retrying {job_id} (run {run_id})")
    else:
        count = await jobs.retry_failed(kind=kind, since=parse_since(since), tenant=tenant)
        out.print(f"retrying {count} failed job(s)")


@app.command()
@command
async def cancel(job_id: str) -> None:
    """Cancel a job; a running activity stops at its next heartbeat."""
    await (await Jobs.connect()).cancel(job_id)
    out.print(f"cancelling {job_id}")


@app.command("run-now")
@command
async def run_now(job_id: str) -> None:
    """Start a delayed job at once instead of when its delay ends, as the same job with the same input."""
    await (await Jobs.connect()).run_now(job_id)
    out.print(f"running {job_id} now")


@app.command()
@command
async def failed(
    kind: str | None = KIND,
    since: str | None = SINCE,
    limit: int = typer.Option(100, "--limit"),
    tenant: str | None = TENANT,
    as_json: bool = AS_JSON,
) -> None:
    """The dead-letter view: jobs that failed for good, with their reason."""
    jobs = await Jobs.connect()
    print_jobs(await jobs.failed(kind=kind, since=parse_since(since), limit=limit, tenant=tenant), as_json)


@app.command("list")
@command
async def list_jobs(
    kind: str | None = KIND,
    state: str | None = typer.Option(None, "--state", help=f"One of: {', '.join(STATE_NAMES)}."),
    key: str | None = typer.Option(None, "--key", help="The idempotency key given at enqueue."),
    recipient: str | None = typer.Option(None, "--recipient", help="An email address or phone number."),
    limit: int = typer.Option(50, "--limit"),
    tenant: str | None = TENANT,
    everything: bool = ALL,
    as_json: bool = AS_JSON,
) -> None:
    """Find jobs by kind, state, key, recipient or tenant, newest first."""
    jobs = await Jobs.connect()
    wanted = parse_state(state) if state is not None else None
    rows = await jobs.list(kind, wanted, key, recipient, limit, include_internal=everything, tenant=tenant)
    print_jobs(rows, as_json)


STATS_COLUMNS = ("kind", "queue", *(s.value for s in JobState))


def stats_rows(stats: JobStats) -> list[list[str]]:
    """Kinds and their task queues down, states across."""
    return [
        [kind, queue, *(str(by_state.get(s, 0)) for s in JobState)]
        for kind, queues in stats.counts.items()
        for queue, by_state in queues.items()
    ]


def stats_table(stats: JobStats) -> RenderableType:
    """The counts as a live-updating table for `--watch` (closed ones counted since `stats.since`), laid out as
    `stats` prints them: headers never cut."""
    title = f"jobs at {datetime.now():%H:%M:%S}, closed since {stats.since:%H:%M}"
    return table(STATS_COLUMNS, stats_rows(stats), title)


@app.command()
@command
async def stats(
    watch: bool = typer.Option(False, "--watch", help="Refresh every 2 s until Ctrl-C."),
    tenant: str | None = TENANT,
    everything: bool = ALL,
    as_json: bool = AS_JSON,
) -> None:
    """Job counts per kind, task queue and state: open jobs now, closed ones over CONVEYOR_STATS_WINDOW."""
    jobs = await Jobs.connect()

    async def counted() -> JobStats:
        return await jobs.stats(include_internal=everything, tenant=tenant)

    if as_json:
        print((await counted()).model_dump_json(indent=2))
    elif not watch:
        show_table(STATS_COLUMNS, stats_rows(await counted()))
    else:
        with Live(stats_table(await counted()), console=out) as live:
            while True:
                await asyncio.sleep(2)
                live.update(stats_table(await counted()))
