"""The composition root: every activity built from settings, every workflow registered on its task queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.alerts import AlertChannels
from activities.email import EmailActivities
from activities.render import TemplateRenderer
from activities.storage import LocalStorage
from conveyor.settings import Settings
from conveyor.status import ui_link
from workflows.email import SendEmail

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    # Validation libraries the job models use: deterministic, so loaded once instead of per workflow run.
    restrictions=SandboxRestrictions.default.with_passthrough_modules("pydantic", "email_validator", "idna")
)


WORKFLOWS = [SendEmail]
"""Every workflow Conveyor runs; the replay tests replay recorded histories against exactly these."""


def email_activities(settings: Settings) -> EmailActivities:
    """The email activities, talking to the SMTP server in `settings`."""
    return EmailActivities(
        smtp_config=settings.smtp_config(),
        mail_from=settings.mail_from,
        renderer=TemplateRenderer(settings.templates_dir),
        storage=LocalStorage(settings.home / "reports"),
    )


def alert_channels(settings: Settings) -> AlertChannels:
    """Failure alerts by email to `ops_email` and/or to the webhook, with links into the web UI."""
    return AlertChannels(
        smtp_config=settings.smtp_config(),
        mail_from=settings.mail_from,
        ops_email=settings.ops_email,
        webhook_url=settings.alert_webhook_url,
        job_link=lambda job_id: ui_link(settings.web_ui, settings.namespace, job_id),
    )


def build_workers(client: Client, settings: Settings) -> list[Worker]:
    """One worker per task queue, all in this process."""
    email = email_activities(settings)
    alerts = alert_channels(settings)
    return [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            workflow_runner=WORKFLOW_RUNNER,
            activities=[email.send_email, alerts.send_alert],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_task_queue_activities_per_second=settings.email_max_per_second,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        )
    ]
