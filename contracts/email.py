"""The email job's request and result: the JSON contract every producer (Python, CLI, HTTP, Node, Go) speaks.

The models are contracts: light (pydantic and the standard library), imported by the producer, the workflows and
the activities alike. Validation lives here, so the client, the CLI, the
HTTP API and the workflow itself (for JSON from non-Python producers) refuse the same input with the same message.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Base64Bytes, BaseModel, ConfigDict, EmailStr, Field, model_validator

from contracts.templates import TEMPLATE_NAME

JOB_ID_HEADER = "X-Conveyor-Job-Id"
"""The header every email a job sends carries: the job id (the dev outbox names its files by it)."""
MAX_RECIPIENTS = 50
MAX_INLINE_ATTACHMENT_BYTES = 512 * 1024
"""Inline attachments ride in the job's payload (Temporal refuses payloads over 2 MB; base64 adds a third)."""


class Attachment(BaseModel):
    """A file attached to the email: inline bytes (base64 in JSON) or the key of a stored file."""

    model_config = ConfigDict(frozen=True)

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: str = Field("application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content: Base64Bytes | None = Field(None, description="The file itself, base64 in JSON.")
    storage_key: str | None = Field(None, description="Key of a file in Conveyor's storage (e.g. a report).")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.content is None) == (self.storage_key is None):
            raise ValueError("an attachment needs exactly one of 'content' or 'storage_key'")
        return self


class EmailJob(BaseModel):
    """Send one email: a named template rendered with `context`, or an explicit subject and body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: list[EmailStr] = Field(min_length=1, description="Recipients.")
    cc: list[EmailStr] = Field(default_factory=list)
    bcc: list[EmailStr] = Field(default_factory=list, description="Receive the email; not shown in headers.")
    reply_to: EmailStr | None = None
    template: str | None = Field(None, description="Template name, e.g. 'welcome' (letters, digits, - and _).")
    context: dict[str, Any] = Field(default_factory=dict, description="Variables for the template.")
    subject: str | None = Field(None, max_length=998, description="Explicit subject (without template).")
    text: str | None = Field(None, description="Explicit plain-text body (without template).")
    html: str | None = Field(None, description="Explicit HTML body (without template).")
    attachments: list[Attachment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _content_and_limits(self) -> Self:
        if self.template is not None:
            if not TEMPLATE_NAME.match(self.template):
                raise ValueError("template must be a name of letters, digits, '-' and '_' (e.g. 'welcome')")
            if self.subject or self.text or self.html:
                raise ValueError("give either 'template' or 'subject' with 'text'/'html', not both")
        elif not self.subject or not (self.text or self.html):
            raise ValueError("give 'template', or 'subject' with 'text' and/or 'html'")
        if self.subject and ("\n" in self.subject or "\r" in self.subject):
            raise ValueError("subject must be a single line")
        if len(self.to) + len(self.cc) + len(self.bcc) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients (to + cc + bcc) per email; use a broadcast")
        inline = sum(len(a.content) for a in self.attachments if a.content is not None)
        if inline > MAX_INLINE_ATTACHMENT_BYTES:
            raise ValueError(
                f"inline attachments total {inline} bytes, over {MAX_INLINE_ATTACHMENT_BYTES}: "
                "store the file and attach it by 'storage_key'"
            )
        return self

    @property
    def recipients(self) -> list[str]:
        """Every envelope recipient: to + cc + bcc, without duplicates, in order."""
        return list(dict.fromkeys([*self.to, *self.cc, *self.bcc]))


class SendEmailInput(BaseModel):
    """What the `send_email` activity needs besides the job: the job id names the Message-ID and outbox file."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    job: EmailJob


class EmailResult(BaseModel):
    """The job's result: which recipients the SMTP server accepted, and which it refused."""

    message_id: str
    accepted: list[str]
    refused: dict[str, str] = Field(default_factory=dict, description="Recipient -> the server's reply.")
