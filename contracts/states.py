"""One job-state model, the same in `status`, `list`, `failed`, `stats`, the HTTP API, metrics and the docs.

Temporal knows six closed states and one open one (`Running`); a job queue shows more. An open job is `scheduled`
(its start is delayed), `queued` (waiting for a worker), `running`, or `retrying` (an attempt failed and the next
one is waiting). A retried job is one job: every surface shows its latest run.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed-out"

    @classmethod
    def _missing_(cls, value: object) -> JobState | None:
        """`scheduled-for-later`, the name earlier versions used, still reads as `scheduled`."""
        return cls.SCHEDULED if value == "scheduled-for-later" else None

    @property
    def done(self) -> bool:
        """True once the job has ended, successfully or not."""
        return self in CLOSED

    @property
    def open(self) -> bool:
        """True while the job has not ended (Temporal's `Running`)."""
        return self not in CLOSED


CLOSED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TERMINATED, JobState.TIMED_OUT})
"""The states a job ends in."""

OPEN = (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING, JobState.RETRYING)
"""The states of a job that has not ended, which Temporal's visibility all calls `Running`."""

EXECUTION_STATUS = {
    JobState.COMPLETED: "Completed",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Canceled",
    JobState.TERMINATED: "Terminated",
    JobState.TIMED_OUT: "TimedOut",
}
"""Temporal's `ExecutionStatus` of each closed state, in visibility queries."""

STATE_NAMES = tuple(s.value for s in JobState)
"""Every state's name, for help texts and error messages."""
