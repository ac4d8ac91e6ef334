"""The failure watcher's request and report: the JSON contract of the `FailureWatcher` workflow."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FailureWatchInput(BaseModel):
    """How far back each run of the watcher looks for activity-shaped jobs that closed failed or timed out."""

    model_config = ConfigDict(frozen=True)

    lookback_seconds: int = Field(default=900, ge=10, le=7 * 24 * 3600)
    """Jobs closed within this many seconds before the run are checked. Several schedule intervals long, so a
    run that was skipped, a watcher that was down for a few minutes, or visibility that lags behind the close
    still leaves every failure inside some run's window; overlapping windows never alert twice (the alert's
    activity id is derived from the job id)."""

    task_queues: list[str] = Field(default_factory=list, max_length=20)
    """Only jobs of these task queues (empty: every queue). A deployment watches its own queues: an alert runs
    on its job's queue, where that deployment's worker (with its alert channels) runs."""


class FailureWindow(BaseModel):
    """One run's window: jobs closed after `since` (the workflow's own clock, so the run replays)."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    task_queues: list[str] = Field(default_factory=list)


class FailureWatchReport(BaseModel):
    """What one run did, by job id."""

    alerted: list[str] = Field(default_factory=list)
    """Jobs whose alert this run started."""
    already_alerted: list[str] = Field(default_factory=list)
    """Jobs found again whose alert an earlier run (or the job's own last attempt) had started."""
