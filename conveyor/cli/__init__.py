"""`conveyor`: the command line. Thin by design: parse, call `conveyor.Jobs` (or the worker), print.

Each module registers its commands on the one Typer app in `conveyor.cli.app`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from conveyor.cli import (  # noqa: F401  (they register their commands)
    api,
    broadcast,
    doctor,
    histories,
    jobs,
    ops,
    schedules,
    send,
    stack,
    webhooks,
)
from conveyor.cli.app import app


def main(argv: Sequence[str] | None = None) -> None:
    """The `conveyor` entry point.

    Exits with `os._exit` after flushing: a short-lived Temporal client can crash the interpreter's finalizer
    (temporalio/sdk-python#300), which must not turn a success into a failure exit code.
    """
    code: int
    try:
        app(args=list(argv) if argv is not None else None, prog_name="conveyor")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
