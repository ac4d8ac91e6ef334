"""Announcing a job that failed for good: an email to the ops address and/or a Slack-compatible webhook POST.

Run by every job workflow just before it fails, as an activity with its own retry policy; for a job run as a
standalone activity, started as a standalone `alert-<job id>-<run id>` activity by the job's own last attempt or by the
failure watcher, whichever comes first. A broken alert channel raises `AlertUndelivered` (retried, then given
up), never hiding the job's own failure.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import httpx
from pydantic import BaseModel, SecretStr
from temporalio import activity

from activities import smtp
from activities.address_guard import GuardedBackend, guarded_client
from activities.mime import message_id
from contracts.email import JOB_ID_HEADER
from contracts.errors import AddressForbidden, JobError, TransientError
from contracts.kinds import Shape
from contracts.webhook_url import webhook_url_problem


class AlertUndelivered(TransientError):
    """An alert channel (SMTP or webhook) did not take the alert."""


class JobAlert(BaseModel):
    """What an alert says: which job, of which kind, failed why, after how many attempts."""

    kind: str
    job_id: str
    failure_type: str
    message: str
    attempts: int | None = None
    shape: Shape = Shape.WORKFLOW
    """How the job ran: its page in the web UI is a workflow's or an activity's."""
    run_id: str | None = None
    """The run that failed (an activity-shaped job's page in the web UI is per run)."""


class AlertChannels:
    """Where alerts go. Either channel may be absent; with neither, alerts are only logged."""

    def __init__(
        self,
        smtp_config: smtp.SmtpConfig,
        mail_from: str,
        ops_email: str | None,
        webhook_url: SecretStr | None,
        job_link: Callable[[JobAlert], str],
        webhook_allow_internal: bool = False,
    ) -> None:
        self.smtp = smtp_config
        self.mail_from = mail_from
        self.ops_email = ops_email
        self.webhook_url = webhook_url
        self.job_link = job_link
        """An alert -> its job's page in the web UI."""
        self.webhook_guard = GuardedBackend(webhook_allow_internal, "the alert webhook")
        """The same SSRF check as webhook deliveries: the URL is configuration, not to be aimed inside."""

    def text(self, alert: JobAlert) -> str:
        """The alert as one paragraph, for both channels."""
        attempts = f" after {alert.attempts} attempt(s)" if alert.attempts else ""
        return (
            f"Conveyor {alert.kind} job {alert.job_id} failed{attempts}: {alert.failure_type}: {alert.message}\n"
            f"{self.job_link(alert)}"
        )

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: JobAlert) -> list[str]:
        """Deliver the alert on every configured channel; returns the channels used."""
        activity.logger.warning("job failed: %s %s: %s", alert.kind, alert.job_id, alert.failure_type)
        sent: list[str] = []
        try:
            if self.ops_email:
                await self._email(alert)
                sent.append("email")
            if self.webhook_url is not None:
                await self._post(alert)
                sent.append("webhook")
        except JobError as e:
            raise AlertUndelivered(f"{type(e).__name__}: {e}").to_application_error() from None
        return sent

    async def _email(self, alert: JobAlert) -> None:
        key = f"alert-{alert.job_id}"  # a retried alert keeps its Message-ID; the dev outbox files it by this key
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = self.ops_email
        msg["Subject"] = f"[Conveyor] {alert.kind} job failed: {alert.failure_type}"
        msg["Message-ID"] = message_id(key, self.mail_from)
        msg[JOB_ID_HEADER] = key
        msg.set_content(self.text(alert))
        await smtp.send(self.smtp, msg, [self.ops_email or ""])

    async def _post(self, alert: JobAlert) -> None:
        assert self.webhook_url is not None
        body = {"text": self.text(alert), **alert.model_dump()}
        url = self.webhook_url.get_secret_value()
        # Nothing here may quote the URL: it is a secret (Slack webhook URLs are credentials). Name the failure,
        # never the URL; settings refuse a malformed one at load, this is the second line.
        problem = webhook_url_problem(url)
        if problem is not None:
            raise AlertUndelivered(f"CONVEYOR_ALERT_WEBHOOK_URL {problem}")
        try:
            async with guarded_client(self.webhook_guard, max_connections=1, timeout=10) as client:
                response = await client.post(url, json=body)
        except AddressForbidden:
            raise
        except (httpx.HTTPError, OSError, ValueError) as e:
            raise AlertUndelivered(f"webhook did not take the alert: {type(e).__name__}") from None
        if not response.is_success:
            raise AlertUndelivered(f"webhook did not take the alert: {response.status_code}")
