"""The maintenance job's request and result: the contract of the `Cleanup` workflow (the `weekly-cleanup` schedule)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CleanupJob(BaseModel):
    """Purge what is older than the retention: stored reports and `.eml` files of the dev outbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retention_days: int | None = Field(
        None, ge=1, description="Keep this many days; default: the worker's CONVEYOR_RETENTION_DAYS."
    )


class PurgeInput(BaseModel):
    """What a purge activity needs: the job's time (the workflow's clock, not the worker's) and its retention."""

    model_config = ConfigDict(frozen=True)

    now: datetime
    retention_days: int | None = None


class CleanupResult(BaseModel):
    """How many files each purge deleted."""

    reports: int
    outbox: int
