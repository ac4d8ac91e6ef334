"""Webhooks from the command line: `conveyor send webhook ...` and `conveyor endpoints list|enable|disable`."""

from __future__ import annotations

import json

import typer

from conveyor.cli.app import app, command, err, out, send_app
from conveyor.cli.input import json_object
from conveyor.cli.output import show_table
from conveyor.cli.send import enqueue_and_print
from conveyor.client import Jobs
from conveyor.endpoints import EndpointSwitch
from conveyor.errors import InvalidJobError
from conveyor.settings import Settings

endpoints_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints: list them, disable or enable one.")
app.add_typer(endpoints_app, name="endpoints")


@send_app.command("webhook")
@command
async def send_webhook(
    event_type: str = typer.Option(..., "--type", help="The event type, e.g. invoice.paid."),
    payload: str = typer.Option(..., "--payload", help="The event's data as a JSON object."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Deliver to this endpoint only; default: every enabled endpoint subscribed."
    ),
    key: str | None = typer.Option(None, "--key", help="Idempotency key (the event's id): the same key sends once."),
    delay: str | None = typer.Option(None, "--delay", help="Start later: 90s, 10m, 2h, 1d (one endpoint only)."),
) -> None:
    """Enqueue a webhook to one endpoint, or one per subscribed endpoint; print the job id(s)."""
    data = json_object(payload, "--payload")
    if endpoint is None:
        if delay is not None:
            raise InvalidJobError("--delay needs --endpoint")
        results = await (await Jobs.connect()).webhook_event(event_type, data, key=key)
        for result in results:
            print(result.id) if not isinstance(result, Exception) else err.print(f"error: {result}")
        err.print(f"enqueued {sum(not isinstance(r, Exception) for r in results)} of {len(results)}")
        return
    await enqueue_and_print("webhook", {"endpoint": endpoint, "event_type": event_type, "payload": data}, key, delay)


@endpoints_app.command("list")
@command
async def list_endpoints(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every declared endpoint, its events and whether it is disabled (never its URL or secrets)."""
    settings = Settings()
    declared = settings.endpoints()
    jobs = await Jobs.connect(settings)
    states = await EndpointSwitch(jobs.client, settings.task_queue).states(declared)
    rows: list[dict[str, str]] = [
        {
            "endpoint": name,
            "events": ",".join(endpoint.events) or "*",
            "state": "enabled" if states[name] is None else "disabled",
            "reason": states[name] or "",
            "secrets": str(len(endpoint.secrets)),
        }
        for name, endpoint in declared.items()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
    elif rows:
        show_table(tuple(rows[0]), [list(r.values()) for r in rows])
    else:
        out.print("no endpoints declared (CONVEYOR_WEBHOOK_ENDPOINTS or CONVEYOR_WEBHOOK_ENDPOINTS_FILE)")


@endpoints_app.command("disable")
@command
async def disable_endpoint(name: str = typer.Argument(..., help="The endpoint's name.")) -> None:
    """Disable an endpoint for every worker and producer: its deliveries are refused until it is enabled."""
    switch = await _switch(name)
    await switch.disable(name, "disabled by an operator")
    print(f"{name} disabled")


@endpoints_app.command("enable")
@command
async def enable_endpoint(name: str = typer.Argument(..., help="The endpoint's name.")) -> None:
    """Enable an endpoint again (after a 410 Gone, or `disable`)."""
    switch = await _switch(name)
    print(f"{name} enabled" if await switch.enable(name) else f"{name} was not disabled")


async def _switch(name: str) -> EndpointSwitch:
    settings = Settings()
    if name not in settings.endpoints():
        raise InvalidJobError(f"no endpoint {name!r} declared (known: {', '.join(sorted(settings.endpoints()))})")
    jobs = await Jobs.connect(settings)
    return EndpointSwitch(jobs.client, settings.task_queue)
