"""An activity-shaped job's own last attempt announces its failure, at once.

A workflow job runs its alert before failing; a job run as a standalone activity has no workflow around it, so
the failure watcher (`workflows.failure_watcher`, a schedule every minute) finds it in the server's visibility —
up to a minute late. When the attempt that fails *knows* it is the last one (a non-retryable error, or attempt ==
`maximum_attempts`: `activities.failure_watch.is_last_attempt`), this interceptor starts the job's alert itself,
before the failure reaches the server. The alert's id is `alert-<job id>-<run id>`, started with REJECT_DUPLICATE
(`announce`), so the watcher's later scan finds it started and sends nothing: one alert per job, whoever comes
first. Time-outs and killed workers run none of the job's code: those stay the watcher's.

The same interceptor holds a job to its kind's policy row when the job was started without it (plain JSON, the
web UI's re-run: the server's default policy retries for ever): past the row's attempts, or for a type the row
never retries, the failure is made non-retryable (`by_its_policy`), and so alerted; under the server's default
policy, a retryable failure carries the row's wait before the next attempt (`next_retry_delay`).

Why an interceptor and not code in each job's activity: one place for every activity-shaped kind, a team's own
kinds included, and the job's code stays the job.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, is_cancelled_exception
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.failure_watch import activity_alert, announce, failure_named, is_last_attempt
from contracts.kinds import JobKind, Shape, kind_of
from contracts.policy import SERVER_DEFAULT_RETRY, JobPolicy
from workflows.policies import policy_of

log = logging.getLogger("conveyor.worker")


def job_kind(info: activity.Info) -> JobKind | None:
    """The kind of the job this activity *is* (a standalone activity of an activity-shaped kind); None for a
    workflow's step (its workflow is the job), an alert, or any other activity."""
    kind = kind_of(info.activity_type) if not info.workflow_id else None
    return kind if kind is not None and kind.shape is Shape.ACTIVITY else None


def by_its_policy(row: JobPolicy, attempt: int, error: Exception, running: RetryPolicy | None = None) -> Exception:
    """`error` as the job's policy row would have the server see it: non-retryable when the row never retries its
    type, or when this attempt is the row's last; and, when the job runs under the server's default policy
    (`running`), retryable with the row's wait before the next attempt.

    A job started with Conveyor's client carries its row as its retry policy, and this changes nothing. One started
    by plain JSON without the row's options (`temporal activity start`, a Node producer), or re-run from the web UI
    (whose form keeps no retry policy), runs under the server's default: retry every failure, for ever, 1 s
    doubling to 100 s. Deciding here holds the declared policy whoever started the job. A producer's own explicit
    intervals are its choice and kept (its attempts are still the row's); so is a wait the error names itself."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return error
    error_type = error.type if isinstance(error, ApplicationError) else None
    error_type = error_type or type(error).__name__
    message = error.message if isinstance(error, ApplicationError) else str(error)
    details = error.details if isinstance(error, ApplicationError) else ()
    if error_type in row.never_retry or (row.max_attempts and attempt >= row.max_attempts):
        return ApplicationError(message, *details, type=error_type, non_retryable=True)
    if running != SERVER_DEFAULT_RETRY or (isinstance(error, ApplicationError) and error.next_retry_delay):
        return error
    return ApplicationError(message, *details, type=error_type, next_retry_delay=row.wait_after(attempt))


class AlertOnLastAttempt(ActivityInboundInterceptor):
    """Runs an activity; if it is an activity-shaped job failing for good, starts the job's alert first."""

    def __init__(self, next: ActivityInboundInterceptor, alert_policy: JobPolicy) -> None:
        super().__init__(next)
        self.alert_timeout = alert_policy.attempt_timeout
        self.alert_retry: RetryPolicy = alert_policy.retry_policy()

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the activity; announce a job's known-last failed attempt, then let its failure go to the server."""
        try:
            return await self.next.execute_activity(input)
        except Exception as e:
            info = activity.info()
            kind = job_kind(info)
            if kind is None or is_cancelled_exception(e):
                raise
            error = by_its_policy(policy_of(kind), info.attempt, e, info.retry_policy)
            if is_last_attempt(error):
                await self._announce(kind.name, info, error)
            if error is e:
                raise
            raise error from e

    async def _announce(self, kind: str, info: activity.Info, error: Exception) -> None:
        alert = activity_alert(kind, info.activity_id, info.activity_run_id, info.attempt, failure_named(error))
        try:
            await announce(activity.client(), alert, info.task_queue, self.alert_timeout, self.alert_retry)
        except RPCError as e:  # the job's own failure must still reach the server; the watcher alerts later
            log.warning("alert for failed job %s not started (the failure watcher will): %s", info.activity_id, e)


class LastAttemptAlerts(Interceptor):
    """The worker interceptor: alerts of activity-shaped jobs on their known-last attempt, with the `alert` policy
    row (the same as the watcher's)."""

    def __init__(self, alert_policy: JobPolicy) -> None:
        self.alert_policy = alert_policy

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Watch every activity's failure (only jobs' last attempts alert)."""
        return AlertOnLastAttempt(next, self.alert_policy)
