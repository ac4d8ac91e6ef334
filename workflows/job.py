"""What every job workflow shares: validating its input, the `status` query (its `Progress`), and failing for
good — typed by its cause and announced by an alert.

Inputs arrive untyped and are checked by `contracts.inputs` (as job activities' are), so bad input fails the job
at once with `InvalidJob` instead of failing the workflow task for ever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertChannels, JobAlert
    from contracts.kinds import kind_of
    from contracts.policy import JobPolicy
    from contracts.progress import STATUS_QUERY, Progress
    from workflows.policies import POLICIES

JOB_FAILURES = (ActivityError, ChildWorkflowError, ApplicationError)
"""What ends a job for good: workflows catch these around their body and call `JobWorkflow.fail`."""
A = TypeVar("A")
R = TypeVar("R")

ALERT_PATCH = "failure-alert"
"""Patch id of the failure alert, added after the first jobs ran (see README, Safe deploys)."""


def job_failure(error: Exception) -> ApplicationError:
    """The job's own failure for `error` (a failed activity, child job or check): typed by its cause (e.g.
    `RecipientRejected`), details kept."""
    cause: BaseException | None = error.cause if isinstance(error, (ActivityError, ChildWorkflowError)) else error
    if isinstance(cause, ApplicationError):
        return ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True)
    if isinstance(cause, TimeoutError):
        kind = cause.type.name if cause.type else "unknown"
        return ApplicationError(f"activity timed out ({kind})", type="ActivityTimeout", non_retryable=True)
    return ApplicationError(str(cause or error), type=type(cause or error).__name__, non_retryable=True)


def attempts_of(failure: ApplicationError) -> int | None:
    """The attempt number an activity put in its error's details (see `contracts.errors.JobError`)."""
    details: Sequence[Any] = failure.details
    if details and isinstance(details[0], dict) and isinstance(details[0].get("attempt"), int):
        return int(details[0]["attempt"])
    return None


class ProgressQuery:
    """How every workflow job tells how far it is: `self.progress`, answered to the `status` query. Apart from
    `JobWorkflow` so that a workflow that alerts nobody when it fails (the failure watcher) answers it too."""

    def __init__(self) -> None:
        self.progress = Progress(stage="queued", percent=0)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> Progress:
        """The job's stage and progress, for `conveyor status` and the web UI's Queries tab."""
        return self.progress


class JobWorkflow(ProgressQuery):
    """Base of job workflows: the progress the `status` query reports, and the way a job fails."""

    async def run_step(
        self, stage: str, percent: int, activity: Callable[[Any, A], Awaitable[R]], arg: A, policy: JobPolicy
    ) -> R:
        """Run one activity under `policy`, showing `stage` meanwhile. Its failure propagates: the workflow's
        `except JOB_FAILURES` hands it to `fail`."""
        self.progress = Progress(stage=stage, percent=percent)
        return await workflow.execute_activity_method(activity, arg, **policy.activity_options())

    async def fail(self, error: Exception) -> NoReturn:
        """End the job: a cancellation stays a cancellation (no alert); anything else raises an alert, then fails
        the job with an error typed by its cause. An alert that cannot be delivered is logged, never raised."""
        if is_cancelled_exception(error):
            raise error
        failure = job_failure(error)
        self.progress = self.progress.model_copy(update={"stage": "failed", "detail": failure.type, "until": None})
        kind = kind_of(workflow.info().workflow_type)
        alert = JobAlert(
            kind=kind.name if kind else workflow.info().workflow_type,
            job_id=workflow.info().workflow_id,
            failure_type=failure.type or "Failure",
            message=failure.message,
            attempts=attempts_of(failure),
        )
        # Jobs that failed before alerts existed recorded no alert: `patched` keeps replaying them as they ran.
        if workflow.patched(ALERT_PATCH):
            try:
                await workflow.execute_activity_method(
                    AlertChannels.send_alert, alert, **POLICIES["alert"].activity_options()
                )
            except ActivityError as e:
                workflow.logger.warning("alert for failed job %s not delivered: %s", alert.job_id, e.cause)
        raise failure from error
