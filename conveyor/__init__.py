"""Conveyor: durable background jobs on Temporal.

from conveyor import Jobs, EmailJob

jobs = await Jobs.connect()
handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
await handle.result()

or, from code without an event loop (a Django or Flask view): `SyncJobs().email(...)`. A team's own job is one
decorated function, which is also its handle (`@job`, then `crm_sync.enqueue(...)`: see `conveyor.team_jobs`).

The names below load when first used, so `import conveyor` (e.g. at a web app's start-up, for its models) costs
pydantic and the job contracts only; the Temporal client loads with `Jobs`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contracts.email import EmailJob, EmailResult
    from contracts.flow import Debounce, PerKey, Throttle
    from contracts.image import ImageJob, ImageResult
    from contracts.progress import Progress
    from contracts.report import ReportJob, ReportResult
    from contracts.sms import SmsJob, SmsResult
    from contracts.states import JobState
    from contracts.webhook import WebhookJob, WebhookResult
    from conveyor.client import JobHandle, Jobs
    from conveyor.errors import (
        ConveyorError,
        EndpointDisabledError,
        InvalidJobError,
        JobFailed,
        JobNotFound,
        TemporalUnavailable,
    )
    from conveyor.settings import Settings
    from conveyor.status import JobStatus
    from conveyor.sync import JobTimeout, SyncJobHandle, SyncJobs
    from conveyor.team_jobs import JobFunction, job

_WHERE = {
    "PerKey": "contracts.flow",
    "Debounce": "contracts.flow",
    "Throttle": "contracts.flow",
    "EmailJob": "contracts.email",
    "EmailResult": "contracts.email",
    "ImageJob": "contracts.image",
    "ImageResult": "contracts.image",
    "Progress": "contracts.progress",
    "ReportJob": "contracts.report",
    "ReportResult": "contracts.report",
    "SmsJob": "contracts.sms",
    "SmsResult": "contracts.sms",
    "JobState": "contracts.states",
    "WebhookJob": "contracts.webhook",
    "WebhookResult": "contracts.webhook",
    "EndpointDisabledError": "conveyor.errors",
    "JobHandle": "conveyor.client",
    "Jobs": "conveyor.client",
    "ConveyorError": "conveyor.errors",
    "InvalidJobError": "conveyor.errors",
    "JobFailed": "conveyor.errors",
    "JobNotFound": "conveyor.errors",
    "TemporalUnavailable": "conveyor.errors",
    "Settings": "conveyor.settings",
    "JobStatus": "conveyor.status",
    "JobTimeout": "conveyor.sync",
    "SyncJobHandle": "conveyor.sync",
    "SyncJobs": "conveyor.sync",
    "JobFunction": "conveyor.team_jobs",
    "job": "conveyor.team_jobs",
}
__all__ = [
    "ConveyorError",
    "Debounce",
    "EmailJob",
    "EmailResult",
    "EndpointDisabledError",
    "ImageJob",
    "ImageResult",
    "InvalidJobError",
    "JobFailed",
    "JobFunction",
    "JobHandle",
    "JobNotFound",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "Jobs",
    "PerKey",
    "Progress",
    "ReportJob",
    "ReportResult",
    "Settings",
    "SmsJob",
    "SmsResult",
    "SyncJobHandle",
    "SyncJobs",
    "TemporalUnavailable",
    "Throttle",
    "WebhookJob",
    "WebhookResult",
    "job",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
