"""Following jobs: `conveyor status`, `conveyor wait`."""

from __future__ import annotations

import json

import typer

from conveyor.cli.app import app, command, out
from conveyor.client import Jobs
from conveyor.status import JobStatus


def print_status(status: JobStatus) -> None:
    """The status, one field per line."""
    out.print(f"[bold]{status.id}[/bold]  {status.kind}  [bold]{status.state.value}[/bold]")
    if status.stage is not None:
        out.print(f"  progress   {status.progress}% ({status.stage})")
    if status.detail:
        out.print(f"  detail     {status.detail}")
    out.print(f"  attempts   {status.attempts}")
    if status.failure:
        out.print(f"  failure    {status.failure.type}: {status.failure.message}")
    if status.result:
        out.print(f"  result     {json.dumps(status.result)}")
    out.print(f"  created    {status.created_at:%Y-%m-%d %H:%M:%S %Z}")
    if status.starts_at and status.starts_at > status.created_at:
        out.print(f"  starts     {status.starts_at:%Y-%m-%d %H:%M:%S %Z}")
    if status.closed_at:
        out.print(f"  closed     {status.closed_at:%Y-%m-%d %H:%M:%S %Z}")
    out.print(f"  web UI     {status.ui_url}")


@app.command()
@command
async def status(job_id: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a job's state, attempts, failure and progress."""
    jobs = await Jobs.connect()
    st = await jobs.status(job_id)
    if as_json:
        print(st.model_dump_json(indent=2))
    else:
        print_status(st)


@app.command()
@command
async def wait(job_id: str, as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Wait until a job ends; exit 0 if it completed, 1 if not."""
    jobs = await Jobs.connect()
    result = await jobs.result(job_id)
    indent = 2 if as_json else None
    # Workflows that are not job kinds (Welcome, Cleanup) come back as plain JSON values, not models.
    text = (
        result.model_dump_json(indent=indent)
        if hasattr(result, "model_dump_json")
        else json.dumps(result, indent=indent)
    )
    out.print(text if as_json else f"completed: {text}")
