"""The email job's one activity: render the template and send the message, in a single task.

One activity per email is deliberate: each trip through a task queue costs the server ~50 ms, and the server, not
SMTP, limits how many emails per second Conveyor sends. The Message-ID is derived from the job id, so every
attempt of a job (and a manual retry) sends the same Message-ID and a receiving system can drop a duplicate.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from temporalio import activity

from activities import smtp
from activities.email_models import EmailJob, EmailResult, SendEmailInput
from activities.errors import TYPED_FAILURES, AttachmentNotFound, as_application_error
from activities.liveness import alive
from activities.render import RenderedEmail, TemplateRenderer
from activities.storage import Storage

JOB_ID_HEADER = "X-Conveyor-Job-Id"


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

    @activity.defn(name="send_email")
    async def send_email(self, request: SendEmailInput) -> EmailResult:
        """Render and send one email. Failures are raised typed: see `activities.errors`."""
        try:
            async with alive():
                message = await self.build(request.job_id, request.job)
                refused = await smtp.send(self.smtp, message, request.job.recipients)
        except TYPED_FAILURES as e:  # input errors fail at once as InvalidJob; outages are retried
            raise as_application_error(e) from None
        accepted = [r for r in request.job.recipients if r not in refused]
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
