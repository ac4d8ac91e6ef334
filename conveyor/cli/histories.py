"""`conveyor histories export`: job histories for the replay tests."""

from __future__ import annotations

from pathlib import Path

import typer

from conveyor.cli.app import app, command
from conveyor.client import Jobs
from conveyor.histories import export, workflow_type

histories_app = typer.Typer(no_args_is_help=True, help="Workflow histories for replay tests.")
app.add_typer(histories_app, name="histories")


@histories_app.command("export")
@command
async def export_histories(
    kind: str | None = typer.Option(None, "--kind", help="Job kind, e.g. email."),
    workflow: str | None = typer.Option(None, "--workflow", help="Or a workflow type, e.g. Cleanup, Welcome."),
    last: int = typer.Option(5, "--last", help="How many of the most recent closed jobs."),
    out_dir: Path = typer.Option(Path("tests/histories"), "--out", help="Where to write <job-id>.json."),
) -> None:
    """Write recent closed jobs' histories as JSON, for the replay tests."""
    wanted = workflow_type(kind, workflow)
    jobs = await Jobs.connect()
    for path in await export(jobs.client, wanted, last, out_dir):
        print(path)
