"""The welcome flow's events, request and result: the contract of the `Welcome` workflow, driven by events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from contracts.input_checks import MAX_DELAY, nesting_depth
from contracts.requests import JobRequest

FOLLOW_UP_AFTER = timedelta(days=3)
"""The flow follows up after this long without `user.activated`, unless `CONVEYOR_WELCOME_FOLLOW_UP_AFTER` says
otherwise."""

EVENT_SIGNAL = "event"
"""The signal every event is delivered by."""


class UserEvent(JobRequest):
    """Something that happened to a user. `user.created` carries the address and the template variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["user.created", "user.activated"]
    user_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@+=-]+$")
    email: EmailStr | None = None
    context: dict[str, Any] = Field(default_factory=dict, description="Template variables, e.g. name, login_url.")

    @model_validator(mode="after")
    def _created_has_address(self) -> Self:
        if self.name == "user.created" and self.email is None:
            raise ValueError("a user.created event needs the user's 'email'")
        return self

    @field_validator("context")
    @classmethod
    def _depth(cls, value: dict[str, Any]) -> dict[str, Any]:
        return nesting_depth(value)  # the welcome email's context: refused here, not when the flow builds the email


class WelcomeJob(JobRequest):
    """The flow for one user, and how long to wait for activation before following up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    follow_up_after: timedelta = Field(FOLLOW_UP_AFTER, gt=timedelta(0), le=MAX_DELAY)


class WelcomeResult(BaseModel):
    """What the flow sent, and whether the user activated in time."""

    welcome_sent: bool
    follow_up_sent: bool
    activated: bool
