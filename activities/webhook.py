"""The webhook job: one signed POST of one event to one named endpoint per attempt — the job itself, run as a
standalone activity.

Signed per Standard Webhooks: `webhook-id` is the job id, so every attempt (and a manual retry) carries the same
id and a receiver drops a duplicate; `webhook-timestamp` is the attempt's time; `webhook-signature` holds one
`v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret of the endpoint (two during a rotation). The body is
`{"type", "timestamp", "data"}`, its timestamp the job's schedule time, so the body is the same on every attempt.

Retried the way receivers expect: 2xx is delivered; 408, 429, 5xx, time-outs and connection errors retry on the
schedule of the `webhook` policy row (Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each attempt raising its
own `next_retry_delay` (an irregular schedule is no back-off coefficient), or later when the answer's
`Retry-After` asks for more; 410 fails for good and disables the endpoint for every worker (`EndpointSwitch`);
other 4xx and 3xx fail for good (redirects are never followed). Every attempt's status, time and first 1 KB of
body go in the job's heartbeat (so `conveyor status` shows them while it retries, and the next attempt reads the
earlier ones back), its failure's details, and its result. A response body is read no further than `read_limit`.

Connections are pooled per endpoint (keep-alive, at most its `concurrency`), each one checked against SSRF where
it is made (`activities.address_guard`).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpcore
import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.address_guard import GuardedBackend, Resolver, guarded_client, system_resolver
from activities.liveness import beat, resumed
from activities.pacer import Pacer
from contracts.errors import (
    AddressForbidden,
    EndpointDisabled,
    EndpointGone,
    EndpointUnknown,
    JobError,
    WebhookRedirected,
    WebhookRejected,
    WebhookUnavailable,
    failures_typed,
)
from contracts.inputs import any_inputs, decode
from contracts.progress import Progress
from contracts.webhook import BODY_KEPT, WebhookAttempt, WebhookAttempts, WebhookEndpoint, WebhookJob, WebhookResult

READ_LIMIT = 64 * 1024
"""Most bytes of a response body read: enough for any acknowledgement; a 50 MB answer is cut here and its
connection closed, not read."""
RETRY_AFTER_CAP = timedelta(hours=10)
"""The longest a `Retry-After` may hold a delivery back: the schedule's longest wait (and the row's maximum)."""
RETRIED_STATUSES = frozenset({408, 429})
"""4xx answers that are the receiver being busy, not refusing: retried (as are 5xx)."""
USER_AGENT = "Conveyor-Webhooks/1"


class EndpointSwitch(Protocol):
    """Where an endpoint's disabled state lives, shared by every worker and producer (see `conveyor.endpoints`)."""

    async def disabled(self, name: str) -> str | None:
        """Why `name` is disabled, or None while it is enabled."""

    async def disable(self, name: str, reason: str) -> None:
        """Disable `name` for everyone until an operator enables it."""


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header (seconds, or an HTTP date) as a wait, capped at `RETRY_AFTER_CAP`; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value[:9]))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = max(timedelta(0), when - now)
    return min(wait, RETRY_AFTER_CAP)


def next_delay(schedule: Sequence[timedelta], attempt: int, asked: timedelta | None) -> timedelta:
    """The wait before the attempt after `attempt`: the schedule's step (its last one repeats), or longer when the
    receiver asked for longer."""
    step = schedule[min(attempt, len(schedule)) - 1] if schedule else timedelta(0)
    return max(step, asked) if asked is not None else step


@dataclass
class _Route:
    """One endpoint as a worker sends to it: its pooled client, its signers, its limits."""

    endpoint: WebhookEndpoint
    client: httpx.AsyncClient
    signers: list[Webhook]
    slots: asyncio.Semaphore
    pacer: Pacer


class WebhookActivities:
    """Delivers webhooks to the endpoints declared in settings. Built once per worker."""

    def __init__(
        self,
        endpoints: Mapping[str, WebhookEndpoint],
        schedule: Sequence[timedelta],
        switch: EndpointSwitch | None = None,
        resolve: Resolver = system_resolver,
        read_limit: int = READ_LIMIT,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.schedule = tuple(schedule)
        """The waits after attempt 1, 2, ... (the policy row's `retry_schedule`)."""
        self.switch = switch
        self.resolve = resolve
        self.read_limit = read_limit
        self.network = network
        """The connector under the SSRF check (None: real sockets); a test records every connect with its own."""
        self._routes: dict[str, _Route] = {}

    def route(self, name: str) -> _Route:
        """The endpoint `name` as this worker sends to it (built on first use, on the event loop that sends)."""
        if name not in self._routes:
            endpoint = self.endpoints.get(name)
            if endpoint is None:
                raise EndpointUnknown(f"no webhook endpoint {name!r} in this worker's settings")
            backend = GuardedBackend(endpoint.allow_internal, f"endpoint {name!r}", self.resolve, self.network)
            self._routes[name] = _Route(
                endpoint=endpoint,
                client=guarded_client(backend, endpoint.concurrency, endpoint.timeout_seconds),
                signers=[Webhook(s.get_secret_value()) for s in endpoint.secrets],
                slots=asyncio.Semaphore(endpoint.concurrency),
                pacer=Pacer(endpoint.rate_per_second),
            )
        return self._routes[name]

    @activity.defn(name="webhook")
    @any_inputs
    async def webhook(self, *raw: Any) -> WebhookResult:
        """The webhook job itself, run as a standalone activity: its one input is a `WebhookJob` as JSON, its id
        the job id (and the `webhook-id`)."""
        with failures_typed():
            job = decode(raw, WebhookJob)
            info = activity.info()
            earlier = resumed(WebhookAttempts) or WebhookAttempts()
            return await self.deliver(info.activity_id, job, info.attempt, info.scheduled_time, earlier)

    async def deliver(
        self, job_id: str, job: WebhookJob, attempt: int, occurred: datetime, earlier: WebhookAttempts
    ) -> WebhookResult:
        """One attempt of `job`: its result when the endpoint answers 2xx, else its typed failure (with the next
        retry's delay, and every attempt so far in its details)."""
        route = self.route(job.endpoint)
        reason = await self.switch.disabled(job.endpoint) if self.switch is not None else None
        if reason is not None:
            raise EndpointDisabled(f"endpoint {job.endpoint!r} is disabled ({reason}); `conveyor endpoints enable`")
        body = json.dumps(
            {"type": job.event_type, "timestamp": occurred.isoformat(), "data": job.payload},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        record, asked = await self._post(route, job_id, body, attempt)
        attempts = [*earlier.attempts, record]
        if record.status is not None and 200 <= record.status < 300:
            return WebhookResult(
                webhook_id=job_id, endpoint=job.endpoint, event_type=job.event_type, status=record.status,
                attempts=attempts,
            )  # fmt: skip
        error = await self._failure(job.endpoint, record)
        beat(Progress(stage="retrying", detail=record.describe()), WebhookAttempts(attempts=attempts))
        raise ApplicationError(
            str(error),
            {"attempt": attempt, "attempts": [a.model_dump(mode="json") for a in attempts]},
            type=type(error).__name__,
            non_retryable=error.permanent,
            next_retry_delay=None if error.permanent else next_delay(self.schedule, attempt, asked),
        )

    async def _post(
        self, route: _Route, job_id: str, body: bytes, attempt: int
    ) -> tuple[WebhookAttempt, timedelta | None]:
        """POST once; what happened, and the wait the answer's `Retry-After` asked for."""
        endpoint = route.endpoint
        async with route.slots:
            await route.pacer.wait()
            sent = datetime.now(UTC)
            headers = {
                **{name: value.get_secret_value() for name, value in endpoint.headers.items()},
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "accept-encoding": "identity",  # the kept body is readable, and no decompression bomb is opened
                "webhook-id": job_id,
                "webhook-timestamp": str(int(sent.timestamp())),
                "webhook-signature": " ".join(s.sign(job_id, sent, body) for s in route.signers),
            }
            started = time.monotonic()
            status, kept, asked, problem = None, b"", None, None
            try:
                async with asyncio.timeout(endpoint.timeout_seconds):
                    async with route.client.stream(
                        "POST", endpoint.url.get_secret_value(), content=body, headers=headers
                    ) as response:
                        status = response.status_code
                        asked = retry_after(response.headers.get("retry-after"), datetime.now(UTC))
                        kept = await self._read(response)
            except AddressForbidden:
                raise
            except TimeoutError:
                problem = "TimedOut"
            except httpx.HTTPError as e:  # connection refused or reset, TLS, protocol errors: never the URL
                problem = type(e).__name__
        record = WebhookAttempt(
            attempt=attempt,
            at=sent,
            seconds=round(time.monotonic() - started, 3),
            status=status,
            body=kept[:BODY_KEPT].decode("utf-8", errors="replace"),
            error=problem,
        )
        return record, asked

    async def _read(self, response: httpx.Response) -> bytes:
        """The body's first `read_limit` bytes; the rest is never read (the connection is closed instead)."""
        kept = bytearray()
        async for chunk in response.aiter_raw():
            kept += chunk
            if len(kept) >= self.read_limit:
                break
        return bytes(kept[: self.read_limit])

    async def _failure(self, name: str, record: WebhookAttempt) -> JobError:
        """The typed failure of an attempt that was not delivered (disabling the endpoint on 410 Gone)."""
        status, what = record.status, record.describe()
        if status is None:
            return WebhookUnavailable(f"endpoint {name!r}: {what}")
        if status == 410:
            if self.switch is not None:
                await self.switch.disable(name, f"answered 410 Gone at {record.at:%Y-%m-%d %H:%M:%S} UTC")
            return EndpointGone(f"endpoint {name!r} is gone (410); disabled until `conveyor endpoints enable {name}`")
        if 300 <= status < 400:
            return WebhookRedirected(f"endpoint {name!r}: {what}; redirects are not followed")
        if status in RETRIED_STATUSES or status >= 500:
            return WebhookUnavailable(f"endpoint {name!r}: {what}")
        return WebhookRejected(f"endpoint {name!r}: {what}")

    async def close(self) -> None:
        """Close every pooled connection."""
        for route in self._routes.values():
            await route.client.aclose()
        self._routes.clear()
