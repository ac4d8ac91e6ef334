"""Log lines of the long-running commands: human-readable by default, one JSON object per line with
`CONVEYOR_LOG_FORMAT=json`. A line logged from a workflow or an activity names its job: id, kind and attempt.

The SDK's loggers (`workflow.logger`, `activity.logger`) put the workflow's or activity's details in the record's
`extra` (`temporal_workflow` / `temporal_activity`); a plain `logging` call inside an activity is placed by the
activity's context. Secrets never reach a log line: settings hold them as `SecretStr`, and no line prints a
request's headers.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from contracts.kinds import kind_of
from conveyor.settings import LogFormat, Settings

JOB_FIELDS = ("job_id", "kind", "attempt")


def job_of(record: logging.LogRecord) -> dict[str, Any]:
    """`{"job_id", "kind", "attempt"}` of the job `record` was logged for; empty outside any job."""
    details: Mapping[str, Any] | None = getattr(record, "temporal_activity", None) or getattr(
        record, "temporal_workflow", None
    )
    if details is None and activity.in_activity():
        info = activity.info()
        details = {
            "workflow_id": info.workflow_id,
            "workflow_type": info.workflow_type,
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
        }
    if not details:
        return {}
    # A workflow step belongs to its workflow's job; a standalone activity is a job of its own.
    job_id, job_type = details.get("workflow_id"), details.get("workflow_type")
    if not job_id:
        job_id, job_type = details.get("activity_id"), details.get("activity_type")
    if not job_id:
        return {}
    kind = kind_of(str(job_type))
    return {"job_id": job_id, "kind": kind.name if kind else job_type, "attempt": details.get("attempt")}


class TextFormatter(logging.Formatter):
    """`2026-01-02 10:00:00,123 INFO conveyor.worker: message [job=email-1 kind=email attempt=2]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the job's fields appended when there is a job."""
        line = super().format(record)
        job = job_of(record)
        if not job:
            return line
        head, sep, tail = line.partition("\n")  # a traceback stays below the line that names the job
        return f"{head} [job={job['job_id']} kind={job['kind']} attempt={job['attempt']}]{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., "job_id": ..., "kind": ..., "attempt": ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object on one line (a traceback goes into `exception`)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **job_of(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter for `log_format`."""
    return JsonFormatter() if log_format is LogFormat.JSON else TextFormatter()


def setup_logging(settings: Settings) -> None:
    """Log to stderr in the configured format and level. The SDK's loggers stop appending their details to the
    message, since the formatter shows them as fields."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
