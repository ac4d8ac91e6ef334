"""What a policy row is: one job kind's timeouts and retries. The rows themselves are `workflows.policies`.

Here, beside the contracts, so a kind defined outside Conveyor can carry its own row, and a producer starting an
activity-shaped job (whose policy comes from whoever starts it) reads it without loading any workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from contracts.errors import PERMANENT_ERROR_TYPES

SERVER_DEFAULT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=100)
)
"""What the server runs a standalone activity under when its start gave no retry policy: `temporal activity
start` without retry flags, and every re-run from the web UI ("Start Standalone Activity Like This One" keeps no
retry policy; measured on web UI 2.54.1). Unlimited attempts."""


@dataclass(frozen=True)
class JobPolicy:
    """Timeouts and retries of one job kind's activities."""

    attempt_timeout: timedelta
    first_retry: timedelta
    backoff: float
    max_retry_wait: timedelta
    max_attempts: int
    heartbeat_timeout: timedelta | None = None
    never_retry: tuple[str, ...] = field(default=PERMANENT_ERROR_TYPES)
    retry_schedule: tuple[timedelta, ...] = ()
    """An irregular schedule of waits after attempt 1, 2, ... (the last repeats), for a kind whose activity raises
    each attempt's `next_retry_delay` from it; `first_retry`/`backoff` then only cover attempts that ended without
    running its code (a time-out, a killed worker)."""

    def retry_policy(self) -> RetryPolicy:
        """Temporal's form of this row."""
        return RetryPolicy(
            initial_interval=self.first_retry,
            backoff_coefficient=self.backoff,
            maximum_interval=self.max_retry_wait,
            maximum_attempts=self.max_attempts,
            non_retryable_error_types=list(self.never_retry),
        )

    def wait_after(self, attempt: int) -> timedelta:
        """How long this row waits after failed attempt `attempt` (1 first) before the next one."""
        wait = self.first_retry * self.backoff ** (attempt - 1) if attempt < 64 else self.max_retry_wait
        return min(wait, self.max_retry_wait)

    def activity_options(self) -> dict[str, Any]:
        """Keyword arguments for `workflow.execute_activity` (and `Client.start_activity`)."""
        return {
            "start_to_close_timeout": self.attempt_timeout,
            "heartbeat_timeout": self.heartbeat_timeout,
            "retry_policy": self.retry_policy(),
        }
