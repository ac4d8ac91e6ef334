"""Periodic jobs: `conveyor schedules apply`, `conveyor schedules list`.

The schedule code lives with the worker (`worker.schedules`), imported inside the commands like `conveyor dev`.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.text import Text

from conveyor.cli.app import app, command, out
from conveyor.connection import connect
from conveyor.settings import Settings

schedules_app = typer.Typer(no_args_is_help=True, help="Periodic jobs (Temporal schedules).")
app.add_typer(schedules_app, name="schedules")


@schedules_app.command("apply")
@command
async def apply_schedules() -> None:
    """Create or update the declared schedules; delete Conveyor's that are no longer declared."""
    from worker.schedule_apply import apply
    from worker.schedules import declared

    settings = Settings()
    done = await apply(await connect(settings), declared(settings))
    for verb, ids in (("created", done.created), ("updated", done.updated), ("unchanged", done.unchanged),
                      ("deleted", done.deleted)):  # fmt: skip
        for schedule_id in ids:
            out.print(f"{verb:9}  {schedule_id}")


@schedules_app.command("list")
@command
async def list_schedules(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Conveyor's schedules: id, times, next runs, last result, paused."""
    from conveyor.schedules import rows

    found = await rows(await connect(Settings()))
    if as_json:
        print(json.dumps([asdict(row) for row in found], indent=2, default=str))
        return
    for row in found:
        out.print(Text.assemble((row.id, "bold"), ("  paused", "yellow") if row.paused else ""))
        out.print(f"  spec       {row.spec}")
        out.print(f"  next       {', '.join(f'{t:%Y-%m-%d %H:%M %Z}' for t in row.next_runs) or '-'}")
        out.print(f"  last       {row.last_result}")
        if row.note:
            out.print(f"  note       {row.note}")
