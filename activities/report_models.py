"""The report job's request and results: the JSON contract of `GenerateReport`.

The report name and its parameters are checked against the registry here, so the client, the CLI and the
workflow itself refuse an unknown report or a bad parameter with the same message, before any rendering.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator

import activities.reports.builtin  # noqa: F401  (registers the built-in reports)
from activities.email_models import MAX_RECIPIENTS, EmailJob
from activities.errors import describe_errors
from activities.reports.registry import REPORTS
from activities.reports.tables import ReportFormat


class ReportJob(BaseModel):
    """Render a registered report to PDF or CSV, store it, and optionally email it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report: str = Field(description="A registered report's name, e.g. 'jobs-summary'.")
    params: dict[str, str] = Field(default_factory=dict, description="The report's parameters, as strings.")
    format: ReportFormat = ReportFormat.PDF
    deliver_to: list[EmailStr] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, description="Email the report (link or attachment) here."
    )

    @model_validator(mode="after")
    def _known_report(self) -> Self:
        spec = REPORTS.get(self.report)
        if spec is None:
            raise ValueError(f"unknown report {self.report!r}; known: {', '.join(sorted(REPORTS))}")
        try:
            spec.params.model_validate(self.params)
        except ValidationError as e:
            raise ValueError(f"report {self.report!r}: {describe_errors(e, prefix='params.')}") from None
        return self


class RenderReportInput(BaseModel):
    """What `render_report` needs: the job, and its id (which names the stored file)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    job: ReportJob


class ReportDelivery(BaseModel):
    """The email that delivers a report, and the task queue of the email job that sends it."""

    task_queue: str
    email: EmailJob


class RenderedReport(BaseModel):
    """What `render_report` made: the stored file (by key; the bytes stay in storage) and how to deliver it."""

    key: str
    filename: str
    content_type: str
    size: int
    rows: int
    pages: int | None = None
    url: str | None = Field(None, description="Download link; None when the file is emailed as an attachment.")
    delivery: ReportDelivery | None = None


class ReportResult(BaseModel):
    """The job's result: where the report is, how big, and who it was emailed to (by which email job)."""

    key: str
    filename: str
    size: int
    rows: int
    pages: int | None = None
    url: str | None = None
    emailed_to: list[str] = Field(default_factory=list)
    email_job_id: str | None = None
