"""Running things: `conveyor dev`, `conveyor worker`, `conveyor setup`.

Worker code is imported inside the commands that run one, so producers' commands never load it.
"""

from __future__ import annotations

import os

import typer

from contracts.kinds import JOBS_VARIABLE, load_job_modules
from conveyor import search_attributes
from conveyor.cli.app import app, command, err, out
from conveyor.connection import connect
from conveyor.logs import setup_logging
from conveyor.settings import Settings
from conveyor.tenants import apply_tenant_config

JOBS_OPTION = typer.Option(
    [],
    "--jobs",
    metavar="MODULE[,MODULE]",
    help="Modules of your @job functions (comma-separated or repeated), added to CONVEYOR_JOBS.",
)


DJANGO_OPTION = typer.Option(
    None,
    "--django",
    metavar="SETTINGS",
    help="Host the tasks of this Django project (its settings module; default: DJANGO_SETTINGS_MODULE, if set).",
)
DJANGO_PROJECT = "conveyor.contrib.django.project"
"""The module that sets a Django project up and declares its tasks' kinds (see `conveyor.contrib.django`)."""


def load_jobs(modules: list[str], django: str | None = None) -> None:
    """Import the `--jobs` modules here (the worker hosts their kinds, the API serves them), and the Django
    project's tasks with `--django` or `DJANGO_SETTINGS_MODULE`; name them in `CONVEYOR_JOBS` for the processes we
    start (the dev stack's API), so every one of them knows the same kinds."""
    if django:
        os.environ["DJANGO_SETTINGS_MODULE"] = django
    if os.environ.get("DJANGO_SETTINGS_MODULE") and DJANGO_PROJECT not in os.environ.get(JOBS_VARIABLE, ""):
        modules = [*modules, DJANGO_PROJECT]
    named = ",".join(modules)
    if named:
        os.environ[JOBS_VARIABLE] = ",".join(filter(None, [os.environ.get(JOBS_VARIABLE), named]))
        load_job_modules(named)


@app.command()
def dev(jobs: list[str] = JOBS_OPTION, django: str | None = DJANGO_OPTION) -> None:
    """Run everything locally: Temporal dev server + web UI, SMTP outbox, worker, HTTP API. Ctrl-C stops all."""
    from conveyor.dev.stack import run_dev

    load_jobs(jobs, django)
    settings = Settings()
    setup_logging(settings)
    command(run_dev)(settings)


@app.command()
def worker(
    apply_schedules: bool = typer.Option(False, "--apply-schedules", help="Apply the declared schedules first."),
    queues: list[str] = typer.Option(
        [],
        "--queues",
        metavar="QUEUE[,QUEUE]",
        help="Serve only these task queues (comma-separated or repeated); default: all of them.",
    ),
    jobs: list[str] = JOBS_OPTION,
    django: str | None = DJANGO_OPTION,
) -> None:
    """Run the worker against the configured Temporal cluster until SIGTERM/SIGINT."""
    from worker.main import UnknownQueue, chosen_queues, run_worker

    load_jobs(jobs, django)
    settings = Settings()
    try:
        chosen = chosen_queues(settings, queues)
    except UnknownQueue as e:
        err.print(f"error: {e}")
        raise typer.Exit(2) from None
    setup_logging(settings)
    command(run_worker)(settings, apply_schedules=apply_schedules, queues=chosen)


@app.command()
@command
async def setup() -> None:
    """Prepare a cluster for Conveyor: register its search attributes, set its task queues' tenant weights and rate
    limit from settings (idempotent)."""
    settings = Settings()
    client = await connect(settings)
    added = await search_attributes.register(client, settings.namespace)
    out.print(f"search attributes added: {', '.join(added)}" if added else "search attributes: all present")
    changed = await apply_tenant_config(client, settings)
    out.print(f"tenant settings applied to: {', '.join(changed)}" if changed else "tenant settings: up to date")
