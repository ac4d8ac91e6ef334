"""Enqueueing jobs: `conveyor send email|sms|report|image ...`, and `conveyor enqueue KIND JSON` for any kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from temporalio.common import Priority

from conveyor.cli.app import app, command, err, send_app, start_options
from conveyor.cli.input import attachments, box, csv_rows, job_text, json_object, key_values, template_context
from conveyor.client import BulkJob, Jobs, enqueued_kind, validate
from conveyor.tenants import with_tenant

DELAY = typer.Option(None, "--delay", help="Start later: 90s, 10m, 2h, 1d.")
PRIORITY = typer.Option(None, "--priority", help="1 (first) to 5 (last); default 3.")
TENANT = typer.Option(None, "--tenant", help="Whose job it is: dispatched fairly against other tenants' jobs.")
TENANT_WEIGHT = typer.Option(None, "--tenant-weight", help="The tenant's share against others (0.001-1000).")


@send_app.command("email")
@command
async def send_email(
    to: list[str] = typer.Option([], "--to", help="Recipient (repeat for more)."),
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
    delay: str | None = DELAY,
    priority: int | None = PRIORITY,
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
    from_csv: Path | None = typer.Option(
        None, "--from-csv", help="One email per row: an 'email' column, optional 'key', the rest template variables."
    ),
) -> None:
    """Enqueue an email (or one per CSV row) and print the job id(s)."""
    job = {
        "to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to,
        "template": template, "context": template_context(var, context_json),
        "subject": subject, "text": text, "html": html, "attachments": attachments(attach),
    }  # fmt: skip
    if from_csv is None:
        await enqueue_and_print("email", job, key, delay, priority, Tenancy(tenant, tenant_weight))
    else:
        await enqueue_rows(job, csv_rows(from_csv), delay, priority, Tenancy(tenant, tenant_weight))


@send_app.command("sms")
@command
async def send_sms(
    to: str = typer.Option(..., "--to", help="Phone number in international format, e.g. +15555550100."),
    body: str = typer.Option(..., "--body", help="The text (GSM-7: 160 characters per part; UCS-2: 70)."),
    sender_id: str | None = typer.Option(None, "--sender-id", help="Alphanumeric sender, where carriers allow."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key sends once."),
    delay: str | None = DELAY,
    priority: int | None = PRIORITY,
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
) -> None:
    """Enqueue a text message and print its job id."""
    await enqueue_and_print(
        "sms", {"to": to, "body": body, "sender_id": sender_id}, key, delay, priority, Tenancy(tenant, tenant_weight)
    )


@send_app.command("report")
@command
async def send_report(
    report: str = typer.Option(..., "--report", help="Report name, e.g. jobs-summary or csv-file."),
    fmt: str = typer.Option("pdf", "--format", help="pdf, csv or xlsx."),
    param: list[str] = typer.Option([], "--param", help="Report parameter name=value (repeat)."),
    deliver_to: list[str] = typer.Option([], "--deliver-to", help="Email the report to this address (repeat)."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key renders once."),
    delay: str | None = DELAY,
    priority: int | None = PRIORITY,
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
) -> None:
    """Enqueue a report and print its job id."""
    job = {"report": report, "format": fmt, "params": key_values(param, "--param"), "deliver_to": deliver_to}
    await enqueue_and_print("report", job, key, delay, priority, Tenancy(tenant, tenant_weight))


@send_app.command("image")
@command
async def send_image(
    file: str | None = typer.Option(None, "--file", help="Source image in the worker's data directory."),
    stored: str | None = typer.Option(None, "--stored", help="Source image by its storage key."),
    size: list[str] = typer.Option(
        [], "--size", help="An output's box: 400x300, 1200x (width only) or x200 (height only). Repeat for more."
    ),
    fmt: str = typer.Option("webp", "--format", help="jpeg, png, webp or avif (every output)."),
    fit: str = typer.Option("cover", "--fit", help="cover, contain, inside or fill (every output)."),
    crop: str = typer.Option("centre", "--crop", help="What cover keeps: centre, north, ..., attention, entropy."),
    quality: int = typer.Option(80, "--quality", help="1-100 for JPEG, WebP and AVIF."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key makes the images once."),
    delay: str | None = DELAY,
    priority: int | None = PRIORITY,
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
) -> None:
    """Enqueue an image job (one output per --size, from one decode) and print its job id. For outputs that differ
    in format or fit, enqueue the JSON contract: `conveyor enqueue image '{...}'`."""
    source = {"file": file, "stored": stored}
    outputs = [{**box(s), "format": fmt, "fit": fit, "crop": crop, "quality": quality} for s in size]
    await enqueue_and_print(
        "image", {"source": source, "outputs": outputs}, key, delay, priority, Tenancy(tenant, tenant_weight)
    )


@app.command("enqueue")
@command
async def enqueue(
    kind: str = typer.Argument(..., help="The job kind, e.g. email, or one of your own (crm_sync)."),
    job: str = typer.Argument(..., help="The job as JSON: the kind's request model ('-' reads standard input)."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key enqueues once."),
    delay: str | None = DELAY,
    priority: int | None = PRIORITY,
    tenant: str | None = TENANT,
    tenant_weight: float | None = TENANT_WEIGHT,
) -> None:
    """Enqueue a job of any kind from its JSON contract (what `POST /jobs/<kind>` takes), and print its job id."""
    await enqueue_and_print(
        kind, json_object(job_text(kind, job), "the job"), key, delay, priority, Tenancy(tenant, tenant_weight)
    )


@dataclass(frozen=True)
class Tenancy:
    """`--tenant` and `--tenant-weight`, checked before anything connects."""

    tenant: str | None = None
    weight: float | None = None

    def checked(self) -> Tenancy:
        """These, or `InvalidJobError` as the client would raise it."""
        with_tenant(Priority.default, self.tenant, self.weight)
        return self


async def enqueue_and_print(
    kind: str,
    job: dict[str, Any],
    key: str | None,
    delay: str | None,
    priority: int | None = None,
    tenancy: Tenancy = Tenancy(),
) -> None:
    """Validate before connecting (bad input never needs a server), enqueue, print the job id."""
    model = validate(enqueued_kind(kind), job)
    when, tenancy = start_options(delay, priority), tenancy.checked()
    jobs = await Jobs.connect()
    handle = await jobs.enqueue(
        kind, model, key=key, delay=when, priority=priority, tenant=tenancy.tenant, tenant_weight=tenancy.weight
    )
    print(handle.id)


async def enqueue_rows(
    base: dict[str, Any], rows: list[dict[str, str]], delay: str | None, priority: int | None, tenancy: Tenancy
) -> None:
    """One email per CSV row, enqueued in bulk. Rows that do not validate are reported and skipped; the exit
    code is then 2, after the good rows were enqueued."""
    when, tenancy = start_options(delay, priority), tenancy.checked()
    items: list[BulkJob] = []
    for row in rows:
        fields = dict(row)
        address, row_key = fields.pop("email", ""), fields.pop("key", None) or None
        job = {**base, "to": [address], "context": {**base["context"], **fields}}
        items.append(BulkJob("email", job, row_key, when, priority, tenancy.tenant, tenancy.weight))
    results = await (await Jobs.connect()).bulk(items)
    refused = 0
    for line, result in enumerate(results, start=2):  # line 1 is the header
        if isinstance(result, Exception):
            refused += 1
            err.print(f"error: line {line}: {result}")
        else:
            print(result.id)
    err.print(f"enqueued {len(results) - refused} of {len(results)}")
    if refused:
        raise typer.Exit(2)
