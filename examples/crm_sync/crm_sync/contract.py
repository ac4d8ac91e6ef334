"""The `crm_sync` kind's contract: its request and result models, its registry entry and its policy row.

Light on purpose (pydantic and Conveyor's contracts only): producers import it to validate a job before enqueueing.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from contracts.kinds import JobKind, Shape
from contracts.policy import JobPolicy


class CrmSyncJob(BaseModel):
    """Push one customer's current record to the CRM."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    email: EmailStr
    plan: str = Field("free", max_length=32)


class CrmSyncResult(BaseModel):
    """What the CRM answered."""

    customer_id: str
    status: int


KIND = JobKind(
    name="crm_sync",
    runs_as="crm_sync",
    shape=Shape.ACTIVITY,
    request=CrmSyncJob,
    result=CrmSyncResult,
    # The CRM is rate-limited and sometimes down for minutes: back off up to a minute, 8 attempts in all. A 4xx
    # answer (the CRM refuses the record) is `CrmRejected`, never retried.
    policy=JobPolicy(
        attempt_timeout=timedelta(seconds=30),
        first_retry=timedelta(seconds=1),
        backoff=2.0,
        max_retry_wait=timedelta(minutes=1),
        max_attempts=8,
        never_retry=("InvalidJob", "CrmRejected"),
    ),
    recipients=lambda job: [job.email],
    hosted="crm_sync.worker:hosted",
)
