"""`conveyor`: the command line. Thin by design: parse, call `conveyor.Jobs` (or the worker), print.

Exit codes: 0 success; 1 the job failed or Temporal is unreachable; 2 bad input (nothing was enqueued).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from conveyor import search_attributes
from conveyor.cli_input import attachments, template_context
from conveyor.client import Jobs, validate
from conveyor.connection import connect
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed
from conveyor.histories import export
from conveyor.kinds import KINDS
from conveyor.settings import Settings
from conveyor.status import JobStatus

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Durable background jobs on Temporal.")
send_app = typer.Typer(no_args_is_help=True, help="Enqueue a job.")
app.add_typer(send_app, name="send")
histories_app = typer.Typer(no_args_is_help=True, help="Workflow histories for replay tests.")
app.add_typer(histories_app, name="histories")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
T = TypeVar("T")

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `2h`, `1d` -> timedelta; `InvalidJobError` otherwise."""
    match = DURATION.match(text.strip())
    if not match:
        raise InvalidJobError(f"duration {text!r} must look like 90s, 10m, 2h or 1d")
    return timedelta(seconds=float(match[1]) * UNITS[match[2]])


def command(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command; turn Conveyor's errors into one line on stderr and an exit code."""

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except InvalidJobError as e:
            err.print(f"error: {e}")
            raise typer.Exit(2) from None
        except JobFailed as e:
            err.print(f"failed: {e.type}: {e.message}")
            raise typer.Exit(1) from None
        except ConveyorError as e:
            err.print(f"error: {e}")
            raise typer.Exit(1) from None

    return run


def setup_logging() -> None:
    """Plain log lines on stderr for the long-running commands."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def print_status(status: JobStatus) -> None:
    """The status, one field per line."""
    out.print(f"[bold]{status.id}[/bold]  {status.kind}  [bold]{status.state.value}[/bold]")
    if status.stage is not None:
        out.print(f"  progress   {status.progress}% ({status.stage})")
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
    text = result.model_dump_json(indent=2 if as_json else None) if hasattr(result, "model_dump_json") else result
    out.print(text if as_json else f"completed: {text}")


@send_app.command("email")
@command
async def send_email(
    to: list[str] = typer.Option(..., "--to", help="Recipient (repeat for more)."),
    cc: list[str] = typer.Option([], "--cc"),
    bcc: list[str] = typer.Option([], "--bcc"),
    reply_to: str | None = typer.Option(None, "--reply-to"),
    template: str | None = typer.Option(None, "--template", help="Template name, e.g. welcome."),
    var: list[str] = typer.Option([], "--var", help="Template variable name=value (repeat)."),
    context_json: str | None = typer.Option(None, "--context", help="Template variables as a JSON object."),
    subject: str | None = typer.Option(None, "--subject"),
    text: str | None = typer.Option(None, "--text"),
    html: str | None = typer.Option(None, "--html"),
    attach: list[Path] = typer.Option([], "--attach", help="File to attach (repeat)."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key sends once."),
    delay: str | None = typer.Option(None, "--delay", help="Start later: 90s, 10m, 2h, 1d."),
) -> None:
    """Enqueue an email and print its job id."""
    job = {
        "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to,
        "template": template, "context": template_context(var, context_json),
        "subject": subject, "text": text, "html": html, "attachments": attachments(attach),
    }  # fmt: skip
    await enqueue_and_print("email", job, key, delay)


async def enqueue_and_print(kind: str, job: dict[str, Any], key: str | None, delay: str | None) -> None:
    """Validate before connecting (bad input never needs a server), enqueue, print the job id."""
    model = validate(KINDS[kind], job)
    when = parse_duration(delay) if delay else None
    jobs = await Jobs.connect()
    handle = await jobs.enqueue(kind, model, key=key, delay=when)
    print(handle.id)


@app.command()
def dev() -> None:
    """Run everything locally: Temporal dev server + web UI, SMTP outbox, worker. Ctrl-C stops all."""
    from worker.dev import run_dev  # worker code loads only for the commands that run one

    setup_logging()
    command(run_dev)(Settings())


@app.command()
def worker() -> None:
    """Run the worker against the configured Temporal cluster until SIGTERM/SIGINT."""
    from worker.main import run_worker

    setup_logging()
    command(run_worker)(Settings())


@app.command()
@command
async def setup() -> None:
    """Prepare a cluster for Conveyor: register its search attributes (idempotent)."""
    settings = Settings()
    added = await search_attributes.register(await connect(settings), settings.namespace)
    out.print(f"search attributes added: {', '.join(added)}" if added else "search attributes: all present")


@histories_app.command("export")
@command
async def export_histories(
    kind: str = typer.Option(..., "--kind", help="Job kind, e.g. email."),
    last: int = typer.Option(5, "--last", help="How many of the most recent closed jobs."),
    out_dir: Path = typer.Option(Path("tests/histories"), "--out", help="Where to write <job-id>.json."),
) -> None:
    """Write recent closed jobs' histories as JSON, for the replay tests."""
    jobs = await Jobs.connect()
    for path in await export(jobs.client, kind, last, out_dir):
        print(path)


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
