"""The `conveyor` Typer app and what every command shares: consoles, error handling, durations.

Exit codes: 0 success; 1 the job failed or Temporal is unreachable; 2 bad input (nothing was enqueued), a `--key`
already used with other input included: resending it never succeeds, so it is not an exit 1 a script would retry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from conveyor.client import job_delay, job_priority
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed, KeyReused

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Durable background jobs on Temporal.")
send_app = typer.Typer(no_args_is_help=True, help="Enqueue a job.")
app.add_typer(send_app, name="send")

# No markup: what these print is job data (failure messages, results, schedule notes), and Rich would take
# `[see docs]` for a style and drop it, or raise on `[/x]`. Styles are given as `Text` styles instead.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

P = ParamSpec("P")
T = TypeVar("T")

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1d` -> timedelta; `InvalidJobError` otherwise."""
    match = DURATION.match(text.strip())
    if not match:
        raise InvalidJobError(f"duration {text!r} must look like 90s, 10m, 2h or 1d")
    try:
        return timedelta(seconds=float(match[1]) * UNITS[match[2]])
    except OverflowError:
        raise InvalidJobError(f"duration {text!r} is too long") from None


def start_options(delay: str | None, priority: int | None = None) -> timedelta | None:
    """`--delay` as a timedelta, with it and `--priority` checked as the client checks them (one cap for every
    path), before connecting: bad input exits 2 without a server, never 1 for "cannot reach Temporal"."""
    when = job_delay(parse_duration(delay) if delay else None)
    job_priority(priority)
    return when


def command(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command; turn Conveyor's errors into one line on stderr and an exit code."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except (InvalidJobError, KeyReused) as e:
            err.print(f"error: {e}")
            raise typer.Exit(2) from None
        except JobFailed as e:
            err.print(f"failed: {e.type}: {e.message}")
            raise typer.Exit(1) from None
        except ConveyorError as e:
            err.print(f"error: {e}")
            raise typer.Exit(1) from None

    return run
