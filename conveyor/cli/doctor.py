"""`conveyor doctor`: check the configuration against the real services, one line per check."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from conveyor.cli.app import app, command
from conveyor.settings import Settings

if TYPE_CHECKING:
    from worker.doctor import Result


def settings_problems(error: ValidationError) -> list[Result]:
    """One failed line per invalid setting, naming its variable; never the value (it may be a secret)."""
    from worker.doctor import Result

    return [
        Result("Settings", False, f"CONVEYOR_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}", "fix that variable")
        for e in error.errors()
    ]


@app.command()
@command
async def doctor() -> None:
    """Check Temporal, search attributes, SMTP, templates, report storage and SMS as configured; print what to fix.
    Exit 1 if any fails."""
    from worker.doctor import diagnose  # the checks load boto3 and Jinja: every other command starts without them

    try:
        results = await diagnose(Settings())
    except ValidationError as e:
        results = settings_problems(e)
    for result in results:
        print(result.line())
    raise typer.Exit(0 if all(r.ok for r in results) else 1)
