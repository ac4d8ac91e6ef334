"""Conveyor's own metrics, recorded through the Temporal SDK's metric meter so they are served on the same
Prometheus endpoint as the SDK's (see `conveyor.telemetry`), with its labels (namespace, task queue) added:

- `conveyor_jobs_started`, `conveyor_jobs_succeeded` (label `kind`), `conveyor_jobs_failed` (`kind`,
  `failure_type`): counted by a workflow interceptor, once per job run. The workflow meter records nothing
  while a workflow replays, so a worker restart or cache eviction never counts a job twice.
- `conveyor_send_latency` (milliseconds; labels `provider`, `outcome`): each attempt of a send activity, from
  the worker's side (render + SMTP round trips for email, the provider call for SMS).

Why the SDK meter and not `prometheus_client`: one port and one exporter per process instead of two, and the
replay-safety above comes for free.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.exceptions import FailureError, is_cancelled_exception
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from activities.failure_watch import is_last_attempt
from contracts.kinds import kind_of
from worker.last_attempt import job_kind


async def counted(
    meter: MetricMeter, started: bool, run: Awaitable[Any], final: Callable[[BaseException], bool]
) -> Any:
    """`run` (a job, or one attempt of an activity-shaped job) between the job counters: started (when `started`),
    succeeded, or failed for good (when `final` says this failure ends the job; a cancellation never counts)."""
    if started:
        meter.create_counter("conveyor_jobs_started", "Job runs started.").add(1)
    try:
        result = await run
    except Exception as e:
        if final(e) and not is_cancelled_exception(e):
            failure_type = getattr(e, "type", None) or type(e).__name__
            meter.create_counter("conveyor_jobs_failed", "Job runs that failed for good.").add(
                1, {"failure_type": failure_type}
            )
        raise
    meter.create_counter("conveyor_jobs_succeeded", "Job runs that completed.").add(1)
    return result


class JobOutcomes(WorkflowInboundInterceptor):
    """Counts each job run's start and how it ended, by the workflow's `kind`."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        """Run the workflow between its counters."""
        spec = kind_of(workflow.info().workflow_type)
        kind = spec.name if spec else workflow.info().workflow_type
        meter = workflow.metric_meter().with_additional_attributes({"kind": kind})
        return await counted(meter, True, self.next.execute_workflow(input), lambda e: isinstance(e, FailureError))


class SendLatency(ActivityInboundInterceptor):
    """Times each attempt of the send activities, labelled by provider; counts the outcomes of activity-shaped
    jobs (a standalone activity is the job: started on its first attempt, failed on its final one)."""

    def __init__(self, next: ActivityInboundInterceptor, providers: Mapping[str, str]) -> None:
        super().__init__(next)
        self.providers = providers

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        """Run the activity; record its duration if it is a send, and its outcome if it is a job."""
        info = activity.info()
        kind = job_kind(info)
        if kind is None:
            return await self._timed(input)
        meter = activity.metric_meter().with_additional_attributes({"kind": kind.name})
        return await counted(meter, info.attempt == 1, self._timed(input), is_last_attempt)

    async def _timed(self, input: ExecuteActivityInput) -> Any:
        provider = self.providers.get(activity.info().activity_type)
        if provider is None:
            return await self.next.execute_activity(input)
        started, outcome = time.monotonic(), "error"
        try:
            result = await self.next.execute_activity(input)
            outcome = "ok"
            return result
        finally:
            activity.metric_meter().create_histogram_timedelta(
                "conveyor_send_latency", "Send activity attempts, by provider and outcome.", unit="ms"
            ).record(timedelta(seconds=time.monotonic() - started), {"provider": provider, "outcome": outcome})


class JobMetrics(Interceptor):
    """The worker interceptor recording Conveyor's metrics. `providers` maps send activity names to the provider
    label (`{"send_email": "smtp", "send_sms": "sns"}`)."""

    def __init__(self, providers: Mapping[str, str]) -> None:
        self.providers = dict(providers)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Time the send activities."""
        return SendLatency(next, self.providers)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        """Count job outcomes."""
        return JobOutcomes
