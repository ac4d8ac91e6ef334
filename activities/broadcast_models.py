"""The broadcast job's request, progress and result: the JSON contract of the `Broadcast` workflow.

A broadcast sends one message (a template, rendered per recipient with their own variables) to every recipient
of a source. Only email is implemented; `channel` is there so SMS joins as a second channel (an SMS body instead
of a template) without changing the contract.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.email_models import TEMPLATE_NAME
from activities.recipients import Recipient

MAX_REPORTED_FAILURES = 100
"""Failed recipients listed in the result (all are counted): a bad list must not blow up the history."""


class BroadcastMessage(BaseModel):
    """What every recipient gets: an email template, rendered with `context` and each recipient's own variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Literal["email"] = Field("email", description="Only email today; SMS is the next channel.")
    template: str = Field(description="Email template name, e.g. 'newsletter'.")
    context: dict[str, Any] = Field(default_factory=dict, description="Variables shared by every recipient.")

    @model_validator(mode="after")
    def _template_name(self) -> Self:
        if not TEMPLATE_NAME.match(self.template):
            raise ValueError("template must be a name of letters, digits, '-' and '_' (e.g. 'newsletter')")
        return self


class SourceRef(BaseModel):
    """A registered recipient source and its argument; `"csv:/path.csv"` is short for name `csv`, arg the path."""

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


class RecipientFailure(BaseModel):
    """A recipient that will not get the message, and why (the server's reply, or the validation error)."""

    address: str
    reason: str


class BroadcastProgress(BaseModel):
    """How far a broadcast got; carried across continue-as-new so each run goes on where the last one stopped."""

    cursor: int = Field(0, description="Position in the source of the next recipient to send to.")
    sent: int = 0
    failed: int = 0
    total: int | None = Field(None, description="Recipients in the source, once its first page was read.")
    failures: list[RecipientFailure] = Field(default_factory=list, description="The first failures, capped.")

    def add_failures(self, failures: list[RecipientFailure]) -> None:
        """Count `failures`, keeping the first `MAX_REPORTED_FAILURES` of them."""
        self.failed += len(failures)
        self.failures.extend(failures[: max(0, MAX_REPORTED_FAILURES - len(self.failures))])


class BroadcastJob(BaseModel):
    """Send `message` to every recipient of `source`, in batches, exactly once each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceRef
    message: BroadcastMessage
    broadcast_id: str | None = Field(
        None, description="Scope of the per-recipient idempotency keys; default: the job id.", max_length=200
    )
    batch_size: int = Field(100, ge=1, le=1000, description="Recipients per send_batch activity.")
    parallel_batches: int = Field(8, ge=1, le=32, description="Batches in flight at once.")
    continue_every: int = Field(5000, ge=1, description="Start a fresh run (continue-as-new) after this many.")
    resume: BroadcastProgress | None = Field(None, description="Set by the workflow itself on continue-as-new.")


class ListRecipientsInput(BaseModel):
    """One page of a source: `limit` recipients from position `cursor`."""

    model_config = ConfigDict(frozen=True)

    source: SourceRef
    cursor: int
    limit: int


class RecipientPage(BaseModel):
    """A page of recipients with valid addresses, the invalid ones, and where the next page starts."""

    recipients: list[Recipient]
    invalid: list[RecipientFailure] = Field(default_factory=list)
    next_cursor: int | None = Field(None, description="None: the source is exhausted.")
    total: int


class SendBatchInput(BaseModel):
    """One batch: the broadcast's id (for idempotency keys), the message, and the recipients."""

    model_config = ConfigDict(frozen=True)

    broadcast_id: str
    message: BroadcastMessage
    recipients: list[Recipient]


class BatchProgress(BaseModel):
    """A batch's heartbeat: who was sent to and who failed so far, so a retried attempt skips them."""

    sent: list[str] = Field(default_factory=list)
    failures: list[RecipientFailure] = Field(default_factory=list)


class BroadcastResult(BaseModel):
    """The broadcast's outcome: counts, and the first failed recipients with the reason."""

    broadcast_id: str
    sent: int
    failed: int
    failures: list[RecipientFailure]
