"""Every timeout and retry policy of every job, in one table. Workflows look their row up; no numbers elsewhere.

Read a row as: each attempt of the job's activity may take `attempt_timeout`; a failed attempt is retried after
`first_retry`, then each wait grows by `backoff` up to `max_retry_wait`, for `max_attempts` attempts in all.
Errors named in `never_retry` (and any raised non-retryable) fail the job at once.
"""

from __future__ import annotations

from datetime import timedelta

from contracts.kinds import JobKind
from contracts.policy import JobPolicy

S, MIN, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)

POLICIES: dict[str, JobPolicy] = {
    # An SMTP outage of ~18 minutes is ridden out (1 s, 2 s, 4 s ... 5 min, 12 attempts) before the job fails.
    # A send whose worker died is retried after the 10 s heartbeat timeout, not the 2 minute attempt timeout
    # (a send heartbeats only once it has run 2.5 s: see `activities.liveness`).
    "email": JobPolicy(
        attempt_timeout=2 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=5 * MIN,
        max_attempts=12,
        heartbeat_timeout=10 * S,
    ),
    # The failure alert of any job: a few quick tries, then the workflow logs it and fails the job anyway.
    "alert": JobPolicy(attempt_timeout=30 * S, first_retry=1 * S, backoff=2.0, max_retry_wait=10 * S, max_attempts=3),
    # One scan of the failure watcher (list the newly failed activity-shaped jobs, start their alerts). It
    # heartbeats per job found; a failed scan costs nothing, since the next run's window overlaps this one.
    "failure-watch": JobPolicy(
        attempt_timeout=2 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=10 * S,
        max_attempts=3,
        heartbeat_timeout=30 * S,
    ),
    # One delivery of a webhook, retried on Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    # (8 attempts over ~28 h). Each failed attempt raises its own next-retry delay from `retry_schedule` (or longer,
    # when the receiver's Retry-After asks); an attempt that ran none of its code (a killed worker: noticed after
    # the attempt time-out) falls back to 5 s x 6 per retry. A POST times out after the endpoint's 15 s (at most
    # 120 s) plus its wait for a free connection, all within the 3 minutes of an attempt.
    "webhook": JobPolicy(
        attempt_timeout=3 * MIN,
        first_retry=5 * S,
        backoff=6.0,
        max_retry_wait=10 * H,
        max_attempts=8,
        retry_schedule=(5 * S, 5 * MIN, 30 * MIN, 2 * H, 5 * H, 10 * H, 10 * H),
    ),
    # Throttling backs off quickly (1 s, 2 s ... 2 min); a provider outage of ~10 minutes is ridden out. A send
    # whose worker died (or that waits its turn under the rate limit) is handled as the email row says.
    "sms": JobPolicy(
        attempt_timeout=1 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=2 * MIN,
        max_attempts=12,
        heartbeat_timeout=10 * S,
    ),
    # A render heartbeats every second or so: a worker that dies is noticed within 10 s and the render starts
    # again on another worker. 100,000 PDF rows take ~30 s here, so 30 minutes leaves room for big reports.
    "report": JobPolicy(
        attempt_timeout=30 * MIN,
        first_retry=5 * S,
        backoff=2.0,
        max_retry_wait=5 * MIN,
        max_attempts=5,
        heartbeat_timeout=10 * S,
    ),
    # One image: a 24-megapixel JPEG into three thumbnails takes ~0.1 s, so 2 minutes is a stuck worker, not a big
    # image (the pixel cap bounds those). A hostile file fails at once (ImageRejected, never retried); what is
    # retried is storage or a dead worker, noticed after the 10 s heartbeat timeout.
    "image": JobPolicy(
        attempt_timeout=2 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=1 * MIN,
        max_attempts=8,
        heartbeat_timeout=10 * S,
    ),
    # One page of an image batch's listing (a folder walk, or S3 list requests).
    "image-list": JobPolicy(
        attempt_timeout=1 * MIN, first_retry=1 * S, backoff=2.0, max_retry_wait=1 * MIN, max_attempts=10
    ),
    # Deleting files is quick and idempotent; a stuck disk gets a few tries, then the job fails and is seen.
    "cleanup": JobPolicy(
        attempt_timeout=10 * MIN, first_retry=5 * S, backoff=2.0, max_retry_wait=1 * MIN, max_attempts=5
    ),
    # One page of recipients read from their source (a CSV file, a query).
    "broadcast-list": JobPolicy(
        attempt_timeout=1 * MIN, first_retry=1 * S, backoff=2.0, max_retry_wait=1 * MIN, max_attempts=10
    ),
    # One batch of sends. It heartbeats every 25 recipients or 0.5 s: a killed worker is noticed after 10 s and
    # the batch retried elsewhere, skipping the recipients its heartbeats recorded. Permanent refusals never fail
    # a batch (they are reported), so only outages retry, for as long as the email row rides them out.
    "broadcast-send": JobPolicy(
        attempt_timeout=10 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=5 * MIN,
        max_attempts=12,
        heartbeat_timeout=10 * S,
    ),
    # One batch of texts, paced at the provider's rate (100 at 1/s take 100 s, well within the attempt). As the
    # email batch: a killed worker is noticed after 10 s, permanent refusals are reported, outages ride out.
    "broadcast-sms": JobPolicy(
        attempt_timeout=30 * MIN,
        first_retry=1 * S,
        backoff=2.0,
        max_retry_wait=2 * MIN,
        max_attempts=12,
        heartbeat_timeout=10 * S,
    ),
}
"""One row per job kind (and one for alerts)."""


def policy_of(kind: JobKind) -> JobPolicy:
    """The policy row of `kind`: its own, for a kind defined outside Conveyor, else its row in `POLICIES`."""
    return kind.policy if isinstance(kind.policy, JobPolicy) else POLICIES[kind.policy]
