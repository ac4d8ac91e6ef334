"""The report job's request and results: the JSON contract of `GenerateReport`.

The report name and its parameters are checked against the declared reports here, so the client, the CLI and
the workflow itself refuse an unknown report or a bad parameter with the same message, before any rendering. A
report is *declared* here (its name and parameters model: the contract) and *implemented* in
`activities.reports` (its rows), so the producer validates reports without loading what renders them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator

from contracts.email import MAX_RECIPIENTS, EmailJob
from contracts.errors import describe_errors
from contracts.input_checks import path_text
from contracts.requests import JobRequest

ATTACH_MAX_BYTES = 2_000_000
"""Reports up to this size are emailed as attachments, larger ones as a link (unless the settings say otherwise)."""


class ReportFormat(StrEnum):
    """The file a report is rendered to."""

    PDF = "pdf"
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def content_type(self) -> str:
        """The MIME type of the file."""
        return CONTENT_TYPES[self]


CONTENT_TYPES = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.CSV: "text/csv",
    ReportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class NoParams(BaseModel):
    """The parameters of a report that takes none."""

    model_config = ConfigDict(extra="forbid")


class JobsSummaryParams(BaseModel):
    """The time window, and how many failed jobs to list."""

    model_config = ConfigDict(extra="forbid")

    hours: float = Field(
        24, gt=0, le=24 * 366 * 10, allow_inf_nan=False, description="Jobs started in the last this many hours."
    )
    failures: int = Field(50, ge=0, le=1000, description="List at most this many failed jobs.")


class CsvFileParams(BaseModel):
    """Which CSV file (in the worker's data directory) to turn into a report."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="A CSV file with a header row, UTF-8, in CONVEYOR_DATA_DIR (or relative to it).")

    @field_validator("path", mode="before")
    @classmethod
    def _no_control(cls, value: Any) -> Any:
        """A NUL in a path fails every attempt of `open` (`embedded null byte`): refuse it here."""
        return path_text(value) if isinstance(value, str) else value


REPORT_PARAMS: dict[str, type[BaseModel]] = {"jobs-summary": JobsSummaryParams, "csv-file": CsvFileParams}
"""Every declared report's parameters model, by name: the built-in ones, and any added by `declare_report` (the
`@report` decorator of `activities.reports.registry` declares the reports it registers)."""


def declare_report(name: str, params: type[BaseModel] = NoParams) -> None:
    """Declare report `name` and its parameters, so producers that import the declaring module validate it."""
    REPORT_PARAMS[name] = params


class ReportJob(JobRequest):
    """Render a registered report to PDF, CSV or XLSX, store it, and optionally email it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report: str = Field(description="A registered report's name, e.g. 'jobs-summary'.")
    params: dict[str, str] = Field(default_factory=dict, description="The report's parameters, as strings.")
    format: ReportFormat = ReportFormat.PDF
    deliver_to: list[EmailStr] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, description="Email the report (link or attachment) here."
    )

    @model_validator(mode="after")
    def _known_report(self) -> Self:
        params = REPORT_PARAMS.get(self.report)
        if params is None:
            raise ValueError(f"unknown report {self.report!r}; known: {', '.join(sorted(REPORT_PARAMS))}")
        try:
            params.model_validate(self.params)
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


class StoredReport(BaseModel):
    """A report in storage: where it is (by key; the bytes stay in storage), how big, and its download link."""

    key: str
    filename: str
    size: int
    rows: int
    pages: int | None = None
    url: str | None = Field(None, description="Download link; None when the file is emailed as an attachment.")


class RenderedReport(StoredReport):
    """What `render_report` made: the stored report, its type, and how to deliver it."""

    content_type: str
    delivery: ReportDelivery | None = None


class ReportResult(StoredReport):
    """The job's result: the stored report, and who it was emailed to (by which email job)."""

    emailed_to: list[str] = Field(default_factory=list)
    email_job_id: str | None = None
