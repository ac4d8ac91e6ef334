"""The email job: render the template and send the message, in a single activity — which is the job itself (a
standalone activity: one server round trip), or one step of a workflow that sends email.

One activity per email is deliberate: each trip through a task queue costs the server ~50 ms, and the server, not
SMTP, limits how many emails per second Conveyor sends. The Message-ID is derived from the job id, so every
attempt of a job (and a manual retry) sends the same Message-ID and a receiving system can drop a duplicate.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from temporalio import activity

from activities import smtp
from activities.job_input import job_input, running_job_id
from activities.liveness import alive
from activities.render import RenderedEmail, TemplateRenderer
from activities.storage import Storage
from contracts.email import JOB_ID_HEADER, EmailJob, EmailResult, SendEmailInput
from contracts.errors import TYPED_FAILURES, AttachmentNotFound, as_application_error
from contracts.progress import Progress


def message_id(job_id: str, mail_from: str) -> str:
    """`<job-id@sender-domain>`: stable across attempts, unique per job."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "conveyor.localhost"
    return f"<{re.sub(r'[^A-Za-z0-9.!#$%&*+/=?^_`{|}~-]', '_', job_id)}@{domain}>"


class EmailActivities:
    """Renders and sends emails. Built once per worker with its SMTP server, templates and storage."""

    def __init__(
        self,
        smtp_config: smtp.SmtpConfig,
        mail_from: str,
        renderer: TemplateRenderer | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.smtp = smtp_config
        self.mail_from = mail_from
        self.renderer = renderer or TemplateRenderer()
        self.storage = storage

    @activity.defn(name="email")
    async def email(self, *args: Any) -> EmailResult:
        """The email job itself, run as a standalone activity: its one input is an `EmailJob` as JSON, its id the
        job id. Failures are raised typed: see `contracts.errors`."""
        try:
            return await self.send(running_job_id(), job_input(args, EmailJob))
        except TYPED_FAILURES as e:  # input errors fail at once as InvalidJob; outages are retried
            raise as_application_error(e) from None

    @activity.defn(name="send_email")
    async def send_email(self, request: SendEmailInput) -> EmailResult:
        """One email as a workflow's step (the welcome flow, report delivery, `SendEmail` jobs still in flight)."""
        try:
            return await self.send(request.job_id, request.job)
        except TYPED_FAILURES as e:  # input errors fail at once as InvalidJob; outages are retried
            raise as_application_error(e) from None

    async def send(self, job_id: str, job: EmailJob) -> EmailResult:
        """Render and send `job` as job `job_id` (which names its Message-ID). A slow one heartbeats which of the
        two it is at: a template taking its time, or an SMTP server."""
        progress = Progress(stage="rendering")
        async with alive(lambda: progress):
            message = await self.build(job_id, job)
            progress = Progress(stage="sending")
            refused = await smtp.send(self.smtp, message, job.recipients)
        accepted = [r for r in job.recipients if r not in refused]
        return EmailResult(message_id=message["Message-ID"], accepted=accepted, refused=refused)

    async def build(self, job_id: str, job: EmailJob) -> EmailMessage:
        """The MIME message for `job`: text and/or HTML alternatives, then attachments. Bcc stays off headers."""
        content = (
            await self.renderer.render_async(job.template, job.context)
            if job.template
            else RenderedEmail(subject=job.subject or "", text=job.text, html=job.html)
        )
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = [Address(addr_spec=a) for a in job.to]
        if job.cc:
            msg["Cc"] = [Address(addr_spec=a) for a in job.cc]
        if job.reply_to:
            msg["Reply-To"] = job.reply_to
        msg["Subject"] = content.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = message_id(job_id, self.mail_from)
        msg[JOB_ID_HEADER] = job_id
        if content.text is not None:
            msg.set_content(content.text)
        if content.html is not None:
            if content.text is None:
                msg.set_content(content.html, subtype="html")
            else:
                msg.add_alternative(content.html, subtype="html")
        for attachment in job.attachments:
            data = attachment.content
            if data is None:
                data = await self._stored(attachment.storage_key or "")
            maintype, _, subtype = attachment.content_type.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment.filename)
        return msg

    async def _stored(self, key: str) -> bytes:
        if self.storage is None:
            raise AttachmentNotFound(f"attachment {key!r} names a stored file, but this worker has no storage")
        return await self.storage.read(key)
