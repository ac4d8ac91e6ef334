"""What every job workflow shares: validating its input, the `status` query, and a failure typed by its cause.

Inputs arrive as `RawValue` and are validated here rather than by the SDK: JSON that fails validation (e.g. from
`temporal workflow start` or a Node producer) would otherwise fail *decoding*, which Temporal retries forever
with nothing in the job's history. Here it fails the job at once with `InvalidJob` naming the bad field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, TimeoutError

from workflows.policies import JobPolicy

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A")
R = TypeVar("R")


class JobProgress(BaseModel):
    """What the `status` query answers: the job's stage and how far it is (0-100)."""

    stage: str = "queued"
    percent: int = 0
    detail: str | None = None


def describe_errors(error: ValidationError) -> str:
    """`to.0: value is not a valid email address; ...`: field paths and reasons, without echoing the input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors(include_url=False)
    )


def decode(raw: RawValue, model: type[M]) -> M:
    """The job's input as `model`, or a non-retryable `InvalidJob` failure naming the fields at fault."""
    try:
        return workflow.payload_converter().from_payload(raw.payload, model)
    except ValidationError as e:
        raise ApplicationError(
            f"invalid {model.__name__}: {describe_errors(e)}", type="InvalidJob", non_retryable=True
        ) from None
    except Exception as e:  # not JSON at all, or the wrong encoding
        raise ApplicationError(f"invalid {model.__name__}: {e}", type="InvalidJob", non_retryable=True) from None


def job_failure(error: ActivityError | ChildWorkflowError) -> ApplicationError:
    """The job's own failure for a failed activity or child job: typed by the cause (e.g. `RecipientRejected`)."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return ApplicationError(cause.message, type=cause.type, non_retryable=True)
    if isinstance(cause, TimeoutError):
        return ApplicationError(
            f"activity timed out ({cause.type.name if cause.type else 'unknown'})",
            type="ActivityTimeout",
            non_retryable=True,
        )
    return ApplicationError(str(cause or error), type=type(cause or error).__name__, non_retryable=True)


class JobWorkflow:
    """Base of job workflows: holds the progress the `status` query reports."""

    def __init__(self) -> None:
        self.progress = JobProgress()

    @workflow.query
    def status(self) -> JobProgress:
        """The job's stage and progress, for `conveyor status` and the web UI's Queries tab."""
        return self.progress

    async def run_step(
        self, stage: str, percent: int, activity: Callable[[Any, A], Awaitable[R]], arg: A, policy: JobPolicy
    ) -> R:
        """Run one activity under `policy`, showing `stage` meanwhile; its failure becomes the job's, typed."""
        self.progress = JobProgress(stage=stage, percent=percent)
        try:
            return await workflow.execute_activity_method(activity, arg, **policy.activity_options())
        except ActivityError as e:
            raise job_failure(e) from e
