"""Conveyor: durable background jobs on Temporal.

from conveyor import Jobs, EmailJob

jobs = await Jobs.connect()
handle = await jobs.email(EmailJob(to=["ann@example.com"], template="welcome", context={"name": "Ann"}))
await handle.result()
"""

from conveyor.client import JobHandle, Jobs
from conveyor.errors import ConveyorError, InvalidJobError, JobFailed, JobNotFound, TemporalUnavailable
from conveyor.settings import Settings
from conveyor.status import JobState, JobStatus
from workflows.email import EmailJob, EmailResult
from workflows.report import ReportJob, ReportResult
from workflows.sms import SmsJob, SmsResult

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
