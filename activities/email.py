"""The email job: render the template and send the message, in a single activity — which is the job itself (a
standalone activity: one server round trip), or one step of a workflow that sends email.

One activity per email is deliberate: each trip through a task queue costs the server ~50 ms, and the server, not
SMTP, limits how many emails per second Conveyor sends. The Message-ID is derived from the job id, so every
attempt of a job (and a manual retry) sends the same Message-ID and a receiving system can drop a duplicate. The
message is built by `activities.mime` (wire bytes on the common path) and sent over reused connections.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity

from activities import smtp
from activities.liveness import alive
from activities.mime import FileAttachment, WireMime, fast_path_for, full_message, message_id
from activities.render import RenderedEmail, TemplateRenderer
from activities.storage import Storage
from contracts.email import EmailJob, EmailResult, SendEmailInput
from contracts.errors import AttachmentNotFound, failures_typed
from contracts.inputs import any_inputs, decode
from contracts.progress import Progress


class EmailActivities:
    """Renders and sends emails. Built once per worker with its SMTP server, templates and storage."""

    def __init__(
        self,
        smtp_config: smtp.SmtpConfig,
        mail_from: str,
        renderer: TemplateRenderer | None = None,
        storage: Storage | None = None,
        pool_size: int = 10,
    ) -> None:
        self.smtp = smtp_config
        self.mail_from = mail_from
        self.renderer = renderer or TemplateRenderer()
        self.storage = storage
        # Email jobs send over a few reused connections, as broadcasts do (a pool of their own, so a broadcast
        # never holds the connections single emails wait for): a new connection per email cost the worker ~2x the
        # CPU of the send itself (connect, EHLO, STARTTLS, AUTH, QUIT), and CPU here is CPU the server on the
        # same machine does not get. Built lazily: the pool belongs to the event loop that sends.
        self.pool_size = pool_size
        self._pool: smtp.SmtpPool | None = None
        self.mime = WireMime(mail_from)

    @property
    def pool(self) -> smtp.SmtpPool:
        """The connections this worker's email jobs reuse."""
        if self._pool is None:
            self._pool = smtp.SmtpPool(self.smtp, self.pool_size)
        return self._pool

    @activity.defn(name="email")
    @any_inputs
    async def email(self, *raw: Any) -> EmailResult:
        """The email job itself, run as a standalone activity: its one input is an `EmailJob` as JSON, its id the
        job id. Failures are raised typed: see `contracts.errors`."""
        with failures_typed():
            return await self.send(activity.info().activity_id, decode(raw, EmailJob))

    @activity.defn(name="send_email")
    async def send_email(self, request: SendEmailInput) -> EmailResult:
        """One email as a workflow's step (the welcome flow, report delivery, `SendEmail` jobs still in flight)."""
        with failures_typed():
            return await self.send(request.job_id, request.job)

    async def send(self, job_id: str, job: EmailJob) -> EmailResult:
        """Render and send `job` as job `job_id` (which names its Message-ID). A slow one heartbeats which of the
        two it is at: a template taking its time, or an SMTP server."""
        progress = Progress(stage="rendering")
        async with alive(lambda: progress):
            content = (
                await self.renderer.render_async(job.template, job.context)
                if job.template
                else RenderedEmail(subject=job.subject or "", text=job.text, html=job.html)
            )
            progress = Progress(stage="sending")
            addresses = [*job.to, *job.cc, *([job.reply_to] if job.reply_to else [])]
            if not job.attachments and fast_path_for(self.mail_from, *addresses):
                wire = self.mime.message(content, job_id, time.time(), job.to, job.cc, job.reply_to)
                refused = await self.pool.send_bytes(wire, job.recipients, sender=self.mime.sender)
            else:
                files = [
                    FileAttachment(
                        a.content if a.content is not None else await self._stored(a.storage_key or ""),
                        a.content_type,
                        a.filename,
                    )
                    for a in job.attachments
                ]
                message = full_message(content, self.mail_from, job_id, job.to, job.cc, job.reply_to, files)
                refused = await self.pool.send(message, job.recipients)
        accepted = [r for r in job.recipients if r not in refused]
        return EmailResult(message_id=message_id(job_id, self.mail_from), accepted=accepted, refused=refused)

    async def _stored(self, key: str) -> bytes:
        if self.storage is None:
            raise AttachmentNotFound(f"attachment {key!r} names a stored file, but this worker has no storage")
        return await self.storage.read(key)
