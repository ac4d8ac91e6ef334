"""Following jobs: `conveyor status`, `conveyor wait`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.text import Text

from conveyor.cli.app import app, command, err, out
from conveyor.client import Jobs
from conveyor.status import JobStatus


def print_status(status: JobStatus) -> None:
    """The status, one field per line."""
    out.print(Text.assemble((status.id, "bold"), f"  {status.kind}  ", (status.state.value, "bold")))
    if status.stage is not None:
        percent = "" if status.progress is None else f"{status.progress}% "
        detail = f", {status.detail}" if status.detail else ""
        out.print(f"  progress   {percent}({status.stage}{detail})")
    out.print(f"  attempts   {status.attempts}")
    if status.failure:
        out.print(f"  failure    {status.failure.type}: {status.failure.message}")
    if status.result is not None:
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


async def follow(jobs: Jobs, job_id: str) -> Any:
    """The job's result; on a terminal, a progress bar (stage and percent from its status) while waiting."""
    result = asyncio.ensure_future(jobs.result(job_id))
    if not err.is_terminal:
        return await result
    description = TextColumn("{task.description}", markup=False)  # the job's id: data, not markup
    columns = (SpinnerColumn(), description, BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(job_id, total=100)
        while not result.done():
            status = await jobs.status(job_id)
            bar.update(task, completed=status.progress or 0, description=f"{job_id} {status.state.value}")
            await asyncio.wait([result], timeout=0.5)
    return await result


@app.command()
@command
async def wait(job_id: str, as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Wait until a job ends (a progress bar on a terminal); exit 0 if it completed, 1 if not."""
    result = await follow(await Jobs.connect(), job_id)
    indent = 2 if as_json else None
    # Workflows that are not job kinds (Welcome, Cleanup) come back as plain JSON values, not models.
    text = (
        result.model_dump_json(indent=indent)
        if hasattr(result, "model_dump_json")
        else json.dumps(result, indent=indent)
    )
    out.print(text if as_json else f"completed: {text}")
