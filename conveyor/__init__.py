"""Conveyor: durable background jobs on Temporal.

from conveyor import Jobs, EmailJob

jobs = await Jobs.connect()
handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
await handle.result()

or, from code without an event loop (a Django or Flask view): `SyncJobs().email(...)`.
"""

from contracts.email import EmailJob, EmailResult
from contracts.report import ReportJob, ReportResult
from contracts.sms import SmsJob, SmsResult
from contracts.states import JobState
from conveyor.client import JobHandle, Jobs
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed, JobNotFound, TemporalUnavailable
from conveyor.settings import Settings
from conveyor.status import JobStatus
from conveyor.sync import JobTimeout, SyncJobHandle, SyncJobs

__all__ = [
    "ConveyorError",
    "EmailJob",
    "EmailResult",
    "InvalidJobError",
    "JobFailed",
    "JobHandle",
    "JobNotFound",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "Jobs",
    "ReportJob",
    "ReportResult",
    "Settings",
    "SmsJob",
    "SmsResult",
    "SyncJobHandle",
    "SyncJobs",
    "TemporalUnavailable",
]
