"""The job kinds a producer can enqueue: each maps to a workflow, a request model and a task queue.

A kind's name prefixes its job ids (`email-<key>`), so a job id tells what it is, and `kind_of` maps a workflow
type back to its kind for jobs started by other Temporal clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from conveyor.settings import Settings
from workflows.broadcast import BroadcastJob, BroadcastResult
from workflows.email import EmailJob, EmailResult
from workflows.report import ReportJob, ReportResult
from workflows.sms import SmsJob, SmsResult


@dataclass(frozen=True)
class JobKind:
    """One kind of job as producers see it."""

    name: str
    workflow: str
    request: type[BaseModel]
    result: type[BaseModel]
    task_queue: Callable[[Settings, Any], str]
    """The queue a job of this kind starts on, from the settings and the (validated) job."""
    recipients: Callable[[Any], list[str]]
    """The addresses or numbers a job reaches, for the `Recipients` search attribute."""


KINDS: dict[str, JobKind] = {
    "email": JobKind(
        name="email",
        workflow="SendEmail",
        request=EmailJob,
        result=EmailResult,
        task_queue=lambda s, job: s.task_queue,
        recipients=lambda job: job.recipients,
    ),
    "sms": JobKind(
        name="sms",
        workflow="SendSms",
        request=SmsJob,
        result=SmsResult,
        task_queue=lambda s, job: s.sms_task_queue,
        recipients=lambda job: [job.to],
    ),
    "report": JobKind(
        name="report",
        workflow="GenerateReport",
        request=ReportJob,
        result=ReportResult,
        task_queue=lambda s, job: s.reports_task_queue,
        recipients=lambda job: list(job.deliver_to),
    ),
    "broadcast": JobKind(
        name="broadcast",
        workflow="Broadcast",
        request=BroadcastJob,
        result=BroadcastResult,
        # SMS broadcasts run where texts are sent: on the SMS queue, under its rate limit.
        task_queue=lambda s, job: s.sms_task_queue if job.message.channel == "sms" else s.task_queue,
        recipients=lambda job: [],  # thousands, read from a source: not a search attribute
    ),
}

_BY_WORKFLOW = {k.workflow: k for k in KINDS.values()}


def kind_of(workflow_type: str) -> JobKind | None:
    """The kind whose workflow is `workflow_type`; None for workflows that are not Conveyor jobs."""
    return _BY_WORKFLOW.get(workflow_type)
