"""The webhook job's contract: an event (type + JSON payload) delivered to one named endpoint, and the endpoints.

Endpoints are declared by name in the worker's settings (`CONVEYOR_WEBHOOK_ENDPOINTS`, or the TOML file named by
`CONVEYOR_WEBHOOK_ENDPOINTS_FILE`): their URL, signing secrets and extra headers never travel in a job's input,
so they never reach a history, a log line, an error or a page. A job names its endpoint; that is all.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from contracts.input_checks import nesting_depth
from contracts.requests import JobRequest
from contracts.webhook_url import webhook_url_problem

ENDPOINT_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""An endpoint's name: it appears in job ids and commands, so lower-case letters, digits, `_` and `-`."""
EVENT_TYPE = r"^[A-Za-z0-9_.:-]{1,128}$"
"""An event type, e.g. `invoice.paid` (Standard Webhooks: dot-separated, letters and digits)."""
SECRET_PREFIX = "whsec_"
SIGNED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
RESERVED_HEADERS = SIGNED_HEADERS | {"content-type", "content-length", "host", "transfer-encoding", "connection"}
"""Headers an endpoint's own `headers` may not set: the signature's, and those HTTP itself owns."""
BODY_KEPT = 1024
"""Bytes of each response body kept in the job's record (its attempts and failure)."""


def secret_problem(secret: str) -> str | None:
    """Why `secret` is not a Standard Webhooks signing secret (`whsec_` + base64 of 24-64 bytes), or None. Never
    quotes the secret."""
    if not secret.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX}"
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return f"must be {SECRET_PREFIX} followed by base64"
    if not 24 <= len(key) <= 64:
        return "must hold 24 to 64 bytes of key (32 is usual)"
    return None


class WebhookEndpoint(BaseModel):
    """A receiver of webhooks, declared by name in settings: where and how deliveries to it go."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: SecretStr = Field(description="http(s) URL POSTed to (a secret: some carry a token in their path).")
    secrets: list[SecretStr] = Field(
        min_length=1,
        max_length=5,
        description="Signing secrets (`whsec_...`). During a rotation list the new and the old one: each delivery "
        "carries a signature per secret, so a receiver holding either verifies it.",
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra request headers (values are secrets: e.g. an Authorization)."
    )
    events: list[str] = Field(
        default_factory=list, description="Event types it subscribes to (fan-out); empty: every type."
    )
    allow_internal: bool = Field(
        False, description="Deliver even to loopback, private or link-local addresses (trusted internal receivers)."
    )
    concurrency: int = Field(10, ge=1, le=1000, description="Deliveries in flight to it at once, per worker.")
    rate_per_second: float | None = Field(None, gt=0, description="Most deliveries per second to it, per worker.")
    timeout_seconds: float = Field(15.0, gt=0, le=120, description="A delivery not answered 2xx within this fails.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        problem = webhook_url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(f"the URL {problem}")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, secret in enumerate(value, start=1):
            problem = secret_problem(secret.get_secret_value())
            if problem is not None:
                raise ValueError(f"secret {number} {problem}")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, header in value.items():
            if name.lower() in RESERVED_HEADERS or not name.isascii() or not name.replace("-", "").isalnum():
                raise ValueError(f"header {name!r} cannot be set (reserved, or not a header name)")
            text = header.get_secret_value()
            if not text.isascii() or not all(c.isprintable() for c in text):  # HTTP clients send ASCII only
                raise ValueError(f"header {name!r} must be printable ASCII (no line breaks or controls)")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        bad = [event for event in value if not re.fullmatch(EVENT_TYPE, event)]
        if bad:
            raise ValueError(f"event types {bad} must match {EVENT_TYPE}")
        return value

    def subscribed(self, event_type: str) -> bool:
        """Whether an event of `event_type` goes to this endpoint (no list: every type does)."""
        return not self.events or event_type in self.events

    def revealed(self) -> dict[str, Any]:
        """This endpoint as plain JSON-able data, secrets in clear: for handing settings to a child process."""
        data = self.model_dump()
        data["url"] = self.url.get_secret_value()
        data["secrets"] = [s.get_secret_value() for s in self.secrets]
        data["headers"] = {k: v.get_secret_value() for k, v in self.headers.items()}
        return data


class WebhookJob(JobRequest):
    """Deliver one event to one named endpoint, signed (Standard Webhooks) and retried the way receivers expect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = Field(pattern=ENDPOINT_NAME, description="The endpoint's name, as declared in settings.")
    event_type: str = Field(pattern=EVENT_TYPE, description="What happened, e.g. `invoice.paid`.")
    payload: dict[str, Any] = Field(description="The event's data (a JSON object): the body's `data`.")

    @field_validator("payload")
    @classmethod
    def _depth(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Refused here, not at the worker: its JSON decoder stops at a depth the producer's checks let through."""
        return nesting_depth(value)


class WebhookAttempt(BaseModel):
    """One attempt of a delivery, as the job's status and result show it."""

    attempt: int
    at: datetime
    """When the request was sent."""
    seconds: float
    """How long until the answer (or the failure)."""
    status: int | None = None
    """The HTTP status code; None when no answer came (time-out, connection refused, address refused)."""
    body: str = ""
    """The first `BODY_KEPT` bytes of the response body (decoded as UTF-8, bad bytes replaced)."""
    error: str | None = None
    """What went wrong when no answer came (`ConnectTimeout`, `ConnectError`, ...)."""

    def describe(self) -> str:
        """`attempt 2: HTTP 503 in 0.01 s at 2026-12-07 14:30:01 UTC: <the body kept>`."""
        answer = f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")
        said = f": {self.body}" if self.body else ""
        return f"attempt {self.attempt}: {answer} in {self.seconds:.2f} s at {self.at:%Y-%m-%d %H:%M:%S} UTC{said}"


class WebhookAttempts(BaseModel):
    """Every attempt so far: heartbeated by each attempt, read back by the next one."""

    attempts: list[WebhookAttempt] = Field(default_factory=list)


class EndpointOff(BaseModel):
    """The durable record that an endpoint is disabled: the input of its `WebhookEndpointDisabled` workflow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = Field(pattern=ENDPOINT_NAME)
    reason: str = Field(max_length=500, description="Why: `answered 410 Gone at ...`, `disabled by an operator`.")


class WebhookResult(BaseModel):
    """A delivered webhook: the id receivers dedupe on, where it went, the answer, and every attempt."""

    webhook_id: str
    endpoint: str
    event_type: str
    status: int
    attempts: list[WebhookAttempt]
