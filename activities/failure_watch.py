"""Finding activity-shaped jobs that failed for good, and announcing each exactly once.

A job run as a standalone activity has no workflow around it to run an alert after its last attempt, and its
last attempt cannot see everything: a start-to-close or heartbeat time-out, or a worker killed mid-attempt, ends
the job without any of the job's code running. The server's visibility sees every ending, so the watcher asks it
(`ExecutionStatus IN ('Failed','TimedOut') AND ActivityType IN (...) AND CloseTime > ...`). Jobs are found by
their activity type (the kinds registry's activity-shaped types), not by a search attribute: a job started by
`temporal activity start` or re-run from the web UI ("Start Standalone Activity Like This One") carries none,
and the alerts themselves (type `send_alert`) are left out.

Exactly once per failed run of a job: each alert is itself a standalone `send_alert` activity whose id is
`alert-<job id>-<run id>`, started with `REJECT_DUPLICATE`. The server refuses a second start for as long as it
keeps the first (the namespace's retention), so overlapping windows, two watchers, or a job's last attempt that
alerted already (`announce`) can never send a second alert for that run; a job retried by an operator that fails
again is a new run, and is announced again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.client import ActivityExecution, Client
from temporalio.common import ActivityIDConflictPolicy, ActivityIDReusePolicy, RetryPolicy
from temporalio.exceptions import ActivityAlreadyStartedError, ApplicationError, TimeoutError

from activities.alerts import JobAlert
from activities.liveness import beat
from contracts.failure_watch import FailureWatchReport, FailureWindow
from contracts.kinds import Shape
from contracts.progress import Progress

ALERT_ACTIVITY = "send_alert"
"""The alert activity's type name (`AlertChannels.send_alert`), registered on every Conveyor task queue."""


def alert_id(job_id: str, run_id: str | None) -> str:
    """The id of the failure alert of one run of a job: one per run, whoever starts it. Per run, not per job: a
    job retried by an operator (`conveyor retry`: a new run under the same job id) that fails again is announced
    again. (The SDK types a run id as optional; a server with standalone activities always gives one.)"""
    return f"alert-{job_id}-{run_id}" if run_id else f"alert-{job_id}"


def failed_query(activity_types: list[str], window: FailureWindow) -> str:
    """Jobs of `activity_types` that closed failed or timed out in `window`."""
    query = "ExecutionStatus IN ('Failed', 'TimedOut') AND ActivityType IN ("
    query += ", ".join(_quoted(t) for t in activity_types) + f") AND CloseTime > '{window.since.isoformat()}'"
    if window.task_queues:  # queue names are validated Temporal names, but quote them as the query language does
        query += " AND TaskQueue IN (" + ", ".join(_quoted(q) for q in window.task_queues) + ")"
    return query


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def announce(
    client: Client, alert: JobAlert, task_queue: str, attempt_timeout: timedelta, retry_policy: RetryPolicy
) -> bool:
    """Start the job's alert unless one was started already; True if this call started it.

    Used by the watcher, and by a job's own last attempt when it knows it is the last (a permanent error, or
    attempt == maximum_attempts): the first to come starts it, the other is refused by the server.
    """
    try:
        await client.start_activity(
            ALERT_ACTIVITY,
            alert,
            id=alert_id(alert.job_id, alert.run_id),
            task_queue=task_queue,
            start_to_close_timeout=attempt_timeout,
            retry_policy=retry_policy,
            id_reuse_policy=ActivityIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=ActivityIDConflictPolicy.FAIL,
        )
    except ActivityAlreadyStartedError:
        return False
    return True


def is_last_attempt(error: BaseException) -> bool:
    """Inside an activity: will the server give up on this job if this attempt raises `error`?

    True for a non-retryable error (by flag or by the policy's `non_retryable_error_types`) and on attempt ==
    `maximum_attempts`. For standalone activities temporalio 1.35 hands the activity its `attempt` and the retry
    policy the server holds (`activity.info().retry_policy`; None from older servers, then False here and the
    watcher alerts). It cannot see a time-out or a killed worker: those endings run none of the job's code.
    """
    info = activity.info()
    if isinstance(error, ApplicationError) and error.non_retryable:
        return True
    policy = info.retry_policy
    if policy is None:
        return False
    error_type = error.type if isinstance(error, ApplicationError) else type(error).__name__
    if error_type in (policy.non_retryable_error_types or ()):
        return True
    return policy.maximum_attempts > 0 and info.attempt >= policy.maximum_attempts


async def alert_of(client: Client, job: ActivityExecution, kind: str) -> JobAlert:
    """The alert for a closed job: its kind, id, the type and message of its last failure, its attempts."""
    handle = client.get_activity_handle(job.activity_id, run_id=job.activity_run_id)
    desc = await handle.describe(include_outcome=True, include_last_failure=True)
    failure = await desc.outcome_failure() or await desc.last_failure()
    if failure is not None:
        named = failure_named(failure)
    else:  # timed out before any attempt failed (e.g. schedule-to-close)
        named = job.status.name.title().replace("_", ""), "no attempt completed"
    return activity_alert(kind, job.activity_id, job.activity_run_id, desc.attempt, named)


def activity_alert(kind: str, job_id: str, run_id: str | None, attempts: int, failure: tuple[str, str]) -> JobAlert:
    """The alert for a failed run of an activity-shaped job. The watcher and the job's known-last attempt both
    build it here, so an alert reads the same whichever of them sends it."""
    failure_type, message = failure
    return JobAlert(
        kind=kind,
        job_id=job_id,
        failure_type=failure_type,
        message=message,
        attempts=attempts,
        shape=Shape.ACTIVITY,
        run_id=run_id,
    )


def failure_named(error: BaseException) -> tuple[str, str]:
    """The failure type and message an alert names for `error`, as the watcher reads it from the server or a
    job's last attempt raises it: an application error's own type, a time-out as `TimedOut`, else its class."""
    if isinstance(error, ApplicationError):
        return error.type or "ApplicationError", error.message
    if isinstance(error, TimeoutError):
        return "TimedOut", f"{error.type.name.lower() if error.type else 'attempt'} time-out"
    return type(error).__name__, str(error)


class FailureWatch:
    """The watcher's one activity, built with the client it queries, the activity types it watches (type -> the
    kind named in alerts: the registry's activity-shaped kinds), and the alert policy (the `alert` row of
    `workflows.policies`) it starts alerts with."""

    def __init__(
        self, client: Client, kinds: Mapping[str, str], alert_timeout: timedelta, alert_policy: RetryPolicy
    ) -> None:
        self.client = client
        self.kinds = dict(kinds)
        self.alert_timeout = alert_timeout
        self.alert_policy = alert_policy

    @activity.defn(name="alert_failed_jobs")
    async def alert_failed_jobs(self, window: FailureWindow) -> FailureWatchReport:
        """Start the alert of every job that closed failed or timed out in the window and has none yet."""
        report = FailureWatchReport()
        if not self.kinds:
            return report
        async for job in self.client.list_activities(failed_query(sorted(self.kinds), window)):
            beat(Progress(stage="alerting", done=len(report.alerted) + len(report.already_alerted), unit="jobs"))
            alert = await alert_of(self.client, job, self.kinds.get(job.activity_type, job.activity_type))
            if await announce(self.client, alert, job.task_queue, self.alert_timeout, self.alert_policy):
                report.alerted.append(job.activity_id)
            else:
                report.already_alerted.append(job.activity_id)
        return report
