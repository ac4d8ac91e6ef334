"""The email job's request and result: the JSON contract every producer (Python, CLI, HTTP, Node, Go) speaks.

The models are contracts: light (pydantic and the standard library), imported by the producer, the workflows and
the activities alike. Validation lives here, so the client, the CLI, the
HTTP API and the workflow itself (for JSON from non-Python producers) refuse the same input with the same message.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Self

from pydantic import Base64Bytes, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from contracts.input_checks import header_text, nesting_depth, path_text
from contracts.requests import JobRequest
from contracts.templates import TEMPLATE_NAME

JOB_ID_HEADER = "X-Conveyor-Job-Id"
"""The header every email a job sends carries: the job id (the dev outbox names its files by it)."""
REFUSED_ATTACHMENT_TYPES = ("multipart", "message")
"""Top-level types that are containers, not files: the bytes of an attachment cannot be one."""
MAX_RECIPIENTS = 50
MAX_INLINE_ATTACHMENT_BYTES = 512 * 1024
"""Inline attachments ride in the job's payload (Temporal refuses payloads over 2 MB; base64 adds a third)."""


class Attachment(BaseModel):
    """A file attached to the email: inline bytes (base64 in JSON) or the key of a stored file."""

    model_config = ConfigDict(frozen=True)

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\]+$")
    content_type: str = Field("application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content: Base64Bytes | None = Field(None, description="The file itself, base64 in JSON.")
    storage_key: str | None = Field(
        None, max_length=1024, description="Key of a file in Conveyor's storage (e.g. a report)."
    )

    @field_validator("filename")
    @classmethod
    def _one_line_filename(cls, value: str) -> str:
        return header_text(value)  # it goes into the Content-Disposition header

    @field_validator("storage_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else path_text(value)

    @field_validator("content_type")
    @classmethod
    def _a_file_type(cls, value: str) -> str:
        if value.partition("/")[0].lower() in REFUSED_ATTACHMENT_TYPES:
            raise ValueError("an attachment cannot be multipart/* or message/*: give the file's own type")
        return value

    @field_validator("content", mode="before")
    @classmethod
    def _strict_base64(cls, value: Any) -> Any:
        """Lenient decoding drops what is not base64 (`"!!!"` became an empty file): refuse it instead."""
        if isinstance(value, (str, bytes)):
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("is not valid base64") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.content is None) == (self.storage_key is None):
            raise ValueError("an attachment needs exactly one of 'content' or 'storage_key'")
        return self


class EmailJob(JobRequest):
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
            if not TEMPLATE_NAME.fullmatch(self.template):
                raise ValueError("template must be a name of letters, digits, '-' and '_' (e.g. 'welcome')")
            if self.subject or self.text or self.html:
                raise ValueError("give either 'template' or 'subject' with 'text'/'html', not both")
        elif not self.subject or not (self.text or self.html):
            raise ValueError("give 'template', or 'subject' with 'text' and/or 'html'")
        if self.subject:
            try:
                header_text(self.subject)
            except ValueError as e:
                raise ValueError(f"subject {e}") from None
        if len(self.to) + len(self.cc) + len(self.bcc) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients (to + cc + bcc) per email; use a broadcast")
        inline = sum(len(a.content) for a in self.attachments if a.content is not None)
        if inline > MAX_INLINE_ATTACHMENT_BYTES:
            raise ValueError(
                f"inline attachments total {inline} bytes, over {MAX_INLINE_ATTACHMENT_BYTES}: "
                "store the file and attach it by 'storage_key'"
            )
        return self

    @field_validator("context")
    @classmethod
    def _depth(cls, value: dict[str, Any]) -> dict[str, Any]:
        return nesting_depth(value)

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
