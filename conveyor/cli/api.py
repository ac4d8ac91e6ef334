"""`conveyor api`: the HTTP API, for producers that are not Python."""

from __future__ import annotations

from conveyor.cli.app import app, command
from conveyor.cli.stack import JOBS_OPTION, load_jobs
from conveyor.errors import ConveyorError
from conveyor.logs import setup_logging
from conveyor.settings import Settings


async def run_api(settings: Settings) -> None:
    """Serve the API until SIGTERM/SIGINT; refuse to start without API keys."""
    from conveyor.http import create_app, serving
    from worker.run import stop_on_signals

    if not settings.api_keys:
        raise ConveyorError("set CONVEYOR_API_KEYS (comma-separated): the API does not run without keys")
    stop = stop_on_signals()
    async with serving(create_app(settings), settings):
        await stop.wait()


@app.command()
def api(jobs: list[str] = JOBS_OPTION) -> None:
    """Run the HTTP API on CONVEYOR_API_HOST:CONVEYOR_API_PORT until SIGTERM/SIGINT."""
    load_jobs(jobs)
    settings = Settings()
    setup_logging(settings)
    command(run_api)(settings)
