"""The composition root: every activity built from settings, every workflow registered on its task queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.broadcast import BroadcastActivities
from activities.cleanup import CleanupActivities
from activities.email import EmailActivities
from activities.render import TemplateRenderer
from activities.smtp import SmtpPool
from activities.storage import LocalStorage
from conveyor.settings import Settings
from workflows.broadcast import Broadcast
from workflows.cleanup import Cleanup
from workflows.email import SendEmail
from workflows.welcome import Welcome

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    # Validation libraries the job models use: deterministic, so loaded once instead of per workflow run.
    restrictions=SandboxRestrictions.default.with_passthrough_modules("pydantic", "email_validator", "idna")
)


WORKFLOWS = [SendEmail, Broadcast, Cleanup, Welcome]
"""Every workflow Conveyor runs; the replay tests replay recorded histories against exactly these."""


def email_activities(settings: Settings) -> EmailActivities:
    """The email activities, talking to the SMTP server in `settings`."""
    return EmailActivities(
        smtp_config=settings.smtp_config(),
        mail_from=settings.mail_from,
        renderer=TemplateRenderer(settings.templates_dir),
        storage=report_storage(settings),
    )


def report_storage(settings: Settings) -> LocalStorage:
    """Where reports (and attachments by key) are stored."""
    return LocalStorage(settings.home / "reports")


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    """One worker per task queue, all in this process."""
    email = email_activities(settings)
    broadcast = BroadcastActivities(email, SmtpPool(settings.smtp_config(), settings.smtp_pool_size))
    cleanup = CleanupActivities(report_storage(settings), settings.outbox_dir, settings.retention_days)
    return [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            workflow_runner=WORKFLOW_RUNNER,
            activities=[
                email.send_email,
                broadcast.list_recipients,
                broadcast.send_batch,
                cleanup.purge_reports,
                cleanup.purge_outbox,
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        )
    ]
