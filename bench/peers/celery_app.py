"""The Celery peer of `python -m bench`: the email job and the broadcast as a Celery 5 user would write them.

Redis as broker and result backend; `acks_late` (a task is acknowledged after it ran, so a worker that dies
mid-task does not lose it) with a prefetch of 1, as Celery's docs advise with it; the prefork pool with 2
processes, started by `bench/peer.py`. The same templates as Conveyor's (`activities/email_templates`),
rendered the way Conveyor renders them (sandboxed Jinja2, strict, autoescaped HTML), sent to the same sink:
one new SMTP connection per email job, one connection per broadcast batch.

Runs in its own virtualenv (`bench/peers/setup.sh` makes `bench/peers/celery-venv`), importing nothing of Conveyor.
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
from celery import Celery
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES = Path(__file__).resolve().parents[2] / "activities" / "email_templates"
REDIS = f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}"
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
SENDER = "Bench <bench@conveyor.localhost>"

app = Celery("conveyor_bench_peer", broker=f"{REDIS}/0", backend=f"{REDIS}/1")
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

templates = SandboxedEnvironment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
)


def message(template: str, context: dict[str, Any], to: str, message_id: str) -> EmailMessage:
    """The rendered email, with a Message-ID from the task id (a redelivered task re-sends the same one)."""
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = to
    msg["Subject"] = " ".join(templates.get_template(f"{template}/subject.txt").render(context).split())
    msg["Message-ID"] = f"<{message_id}@conveyor.localhost>"
    msg.set_content(templates.get_template(f"{template}/body.txt").render(context))
    msg.add_alternative(templates.get_template(f"{template}/body.html").render(context), subtype="html")
    return msg


@app.task(bind=True, autoretry_for=(OSError,), retry_backoff=True)
def send_email(self: Any, to: str, template: str, context: dict[str, Any]) -> str:
    """One email job: render, then send over a new connection. A failed send (refused connection, SMTP error: all
    `OSError`s) is retried as Celery's docs show, with exponential backoff and jitter, `max_retries` times (its
    default, 3)."""
    with smtplib.SMTP("127.0.0.1", SMTP_PORT) as smtp:
        smtp.send_message(message(template, context, to, self.request.id))
    return str(self.request.id)


@app.task(bind=True)
def send_batch(self: Any, recipients: list[dict[str, Any]], template: str) -> int:
    """One batch of a broadcast over one connection; returns how many were sent."""
    with smtplib.SMTP("127.0.0.1", SMTP_PORT) as smtp:
        for r in recipients:
            smtp.send_message(message(template, r["context"], r["to"], f"{self.request.id}-{r['to']}"))
    return len(recipients)
