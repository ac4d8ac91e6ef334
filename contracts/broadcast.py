"""The broadcast job's request, resume state and result: the JSON contract of the `Broadcast` workflow.

A broadcast sends one message to every recipient of a source, rendered per recipient with their own variables:
an email template, or an SMS text. An SMS goes to the recipient's `phone` variable when it has one (a CSV with
both `email` and `phone` columns serves both channels), else to its address.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.input_checks import display_text, nesting_depth, path_text
from contracts.requests import JobRequest
from contracts.sms import MAX_PARTS, SENDER_ID
from contracts.templates import TEMPLATE_NAME, check_syntax


class Recipient(BaseModel):
    """One recipient: an address and the template variables that are theirs alone (e.g. `name`)."""

    model_config = ConfigDict(frozen=True)

    address: str
    context: dict[str, Any] = Field(default_factory=dict)


SMS_BODY_MAX = MAX_PARTS * 160
"""Longest SMS body template accepted; each rendered text is measured against the SMS limit per recipient."""

Channel = Literal["email", "sms"]
"""How a broadcast reaches its recipients."""

CONTINUE_EVERY = 5000
"""A broadcast continues as new after this many recipients, unless its job or `CONVEYOR_BROADCAST_CONTINUE_EVERY`
says otherwise."""

MAX_REPORTED_FAILURES = 100
"""Failed recipients listed in the result (all are counted): a bad list must not blow up the history."""


class BroadcastMessage(BaseModel):
    """What every recipient gets, rendered with `context` and each recipient's own variables: an email template
    (`channel` "email", the default) or an SMS text (`channel` "sms", `body` a template string)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel = Field("email", description="`email` (a template) or `sms` (a body).")
    template: str | None = Field(None, description="Email: the template's name, e.g. 'newsletter'.")
    body: str | None = Field(
        None, min_length=1, max_length=SMS_BODY_MAX, description="SMS: the text, e.g. 'Hi {{ name }}, ...'."
    )
    sender_id: str | None = Field(
        None, pattern=SENDER_ID, max_length=11, description="SMS: alphanumeric sender where carriers allow it."
    )
    context: dict[str, Any] = Field(default_factory=dict, description="Variables shared by every recipient.")

    @model_validator(mode="after")
    def _channel_fields(self) -> Self:
        if self.channel == "email":
            if self.body is not None or self.sender_id is not None:
                raise ValueError("body and sender_id are for SMS broadcasts (channel 'sms'); email uses template")
            if self.template is None:
                raise ValueError("an email broadcast needs a template (e.g. 'newsletter'); an SMS one, channel 'sms'")
            if not TEMPLATE_NAME.fullmatch(self.template):
                raise ValueError("template must be a name of letters, digits, '-' and '_' (e.g. 'newsletter')")
            return self
        if self.template is not None:
            raise ValueError("an SMS broadcast has a body, not a template")
        if self.body is None:
            raise ValueError("an SMS broadcast needs a body (the text, e.g. 'Hi {{ name }}')")
        try:
            display_text(self.body)
        except ValueError as e:
            raise ValueError(f"body {e}") from None
        check_syntax(self.body)
        return self

    @field_validator("context")
    @classmethod
    def _depth(cls, value: dict[str, Any]) -> dict[str, Any]:
        return nesting_depth(value)


class SourceRef(BaseModel):
    """A registered recipient source and its argument; `"csv:list.csv"` is short for name `csv`, arg the path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Registered source name: 'csv', 'static', or yours.")
    arg: str | list[str] = Field("", description="The source's argument: a path, a list of addresses, ...")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            name, _, arg = value.partition(":")
            return {"name": name, "arg": arg}
        return value

    @field_validator("name", "arg")
    @classmethod
    def _no_control(cls, value: str | list[str]) -> str | list[str]:
        """A NUL in a path fails every attempt of `open` (`embedded null byte`): refuse it here."""
        for text in [value] if isinstance(value, str) else value:
            path_text(text)
        return value


class RecipientFailure(BaseModel):
    """A recipient that will not get the message, and why (the server's reply, or the validation error)."""

    address: str
    reason: str


class BroadcastState(BaseModel):
    """Where a broadcast is: carried across continue-as-new so each run goes on where the last one stopped. (What
    `status` shows is its `contracts.progress.Progress`, made from this.)"""

    cursor: int = Field(0, description="Position in the source of the next recipient to send to.")
    sent: int = 0
    failed: int = 0
    total: int | None = Field(None, description="Recipients in the source, once its first page was read.")
    failures: list[RecipientFailure] = Field(default_factory=list, description="The first failures, capped.")

    def add_failures(self, failures: list[RecipientFailure]) -> None:
        """Count `failures`, keeping the first `MAX_REPORTED_FAILURES` of them."""
        self.failed += len(failures)
        self.failures.extend(failures[: max(0, MAX_REPORTED_FAILURES - len(self.failures))])


class BroadcastJob(JobRequest):
    """Send `message` to every recipient of `source`, in batches, exactly once each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceRef
    message: BroadcastMessage
    broadcast_id: str | None = Field(
        None, description="Scope of the per-recipient idempotency keys; default: the job id.", max_length=200
    )
    batch_size: int = Field(100, ge=1, le=1000, description="Recipients per send_batch activity.")
    parallel_batches: int = Field(8, ge=1, le=32, description="Batches in flight at once.")
    continue_every: int = Field(
        CONTINUE_EVERY, ge=1, description="Start a fresh run (continue-as-new) after this many."
    )
    resume: BroadcastState | None = Field(None, description="Set by the workflow itself on continue-as-new.")


class ListRecipientsInput(BaseModel):
    """One page of a source: `limit` recipients from position `cursor`, checked as the channel's addresses."""

    model_config = ConfigDict(frozen=True)

    source: SourceRef
    cursor: int
    limit: int
    channel: Channel = "email"
    count: bool = Field(True, description="Also count the whole source (asked once per broadcast: it reads it all).")


class RecipientPage(BaseModel):
    """A page of recipients with valid addresses, the invalid ones, and where the next page starts."""

    recipients: list[Recipient]
    invalid: list[RecipientFailure] = Field(default_factory=list)
    next_cursor: int | None = Field(None, description="None: the source is exhausted.")
    total: int | None = Field(None, description="Recipients in the source, when the page asked to count them.")


class SendBatchInput(BaseModel):
    """One batch: the broadcast's id (for idempotency keys), the message, and the recipients."""

    model_config = ConfigDict(frozen=True)

    broadcast_id: str
    message: BroadcastMessage
    recipients: list[Recipient]


class BatchOutcome(BaseModel):
    """Who a batch sent to and who failed: its result, and, so far, the resume state its heartbeats carry (after
    its progress: see `activities.liveness`), so a retried attempt skips them."""

    sent: list[str] = Field(default_factory=list)
    failures: list[RecipientFailure] = Field(default_factory=list)


class BroadcastResult(BaseModel):
    """The broadcast's outcome: counts, and the first failed recipients with the reason."""

    broadcast_id: str
    sent: int
    failed: int
    failures: list[RecipientFailure]
