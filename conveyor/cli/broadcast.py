"""Broadcasts and events: `conveyor broadcast ...`, `conveyor event ...`."""

from __future__ import annotations

import typer

from contracts.broadcast import BroadcastJob
from contracts.kinds import KINDS
from conveyor.cli.app import app, command, start_options
from conveyor.cli.input import template_context
from conveyor.cli.send import TENANT, TENANT_WEIGHT, Tenancy
from conveyor.client import Jobs, validate
from conveyor.events import validate_event


@app.command()
@command
async def broadcast(
    source: str = typer.Option(..., "--source", help="Recipients: csv:PATH, static:a@x.com,b@y.com, or NAME:ARG."),
    template: str | None = typer.Option(None, "--template", help="Email template, e.g. newsletter."),
    sms: str | None = typer.Option(None, "--sms", help="Send an SMS with this text instead, e.g. 'Hi {{ name }}'."),
    sender_id: str | None = typer.Option(None, "--sender-id", help="SMS: alphanumeric sender (1-11 characters)."),
    var: list[str] = typer.Option([], "--var", help="Template variable name=value, shared by all (repeat)."),
    context_json: str | None = typer.Option(None, "--context", help="Template variables as a JSON object."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key broadcasts once."),
    delay: str | None = typer.Option(None, "--delay", help="Start later: 90s, 10m, 2h, 1d."),
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
) -> None:
    """Send one templated email (or, with --sms, one text) to every recipient of a source; print the job id."""
    message = {"template": template, "context": template_context(var, context_json)}
    if sms is not None or sender_id is not None:
        message |= {"channel": "sms", "body": sms, "sender_id": sender_id}
    job = validate(KINDS["broadcast"], {"source": source, "message": message})
    assert isinstance(job, BroadcastJob)
    when, tenancy = start_options(delay), Tenancy(tenant, tenant_weight).checked()
    jobs = await Jobs.connect()
    print((await jobs.broadcast(job, key=key, delay=when, tenant=tenancy.tenant, tenant_weight=tenancy.weight)).id)


@app.command()
@command
async def event(
    name: str = typer.Argument(..., help="user.created or user.activated"),
    user_id: str = typer.Option(..., "--user-id"),
    email: str | None = typer.Option(None, "--email", help="The user's address (user.created)."),
    var: list[str] = typer.Option([], "--var", help="Template variable name=value (repeat)."),
    tenant: str | None = TENANT,
) -> None:
    """Deliver an event to the job it drives (starting it if needed); print the job id."""
    model = validate_event({"name": name, "user_id": user_id, "email": email, "context": template_context(var, None)})
    Tenancy(tenant).checked()
    jobs = await Jobs.connect()
    print((await jobs.signal_event(model, tenant=tenant)).id)
