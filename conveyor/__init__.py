"""Conveyor: durable background jobs on Temporal.

from conveyor import Jobs, EmailJob

jobs = await Jobs.connect()
handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
await handle.result()
"""

from contracts.email import EmailJob, EmailResult
from contracts.report import ReportJob, ReportResult
from contracts.sms import SmsJob, SmsResult
from contracts.states import JobState
from conveyor.client import JobHandle, Jobs
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed, JobNotFound, TemporalUnavailable
from conveyor.settings import Settings
from conveyor.status import JobStatus

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
    "Jobs",
    "ReportJob",
    "ReportResult",
    "Settings",
    "SmsJob",
    "SmsResult",
    "TemporalUnavailable",
]
