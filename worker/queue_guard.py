"""A job started on the wrong task queue fails at once, naming the right one (from the job registry).

A producer that bypasses Conveyor's client (`temporal workflow start`, a Node client) may start a job on a queue
whose workers do not run that job's activities: without this check its activity would retry "not registered"
until its attempts ran out. Whichever kind it is and whatever the rule (an SMS broadcast runs on the SMS queue),
the registry entry says where it belongs, and this interceptor compares before the job does anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

from temporalio import activity, workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from contracts.kinds import JobKind, Shape, kind_of


def expected_queue(kind: JobKind, queues: Mapping[str, str], args: Any, converter: Any) -> str | None:
    """The queue a job of `kind` with input `args` belongs on; None when the input does not decode (the job
    then fails on its own with `InvalidJob` naming the bad field)."""
    if callable(kind.queue):
        if not args or not isinstance(args[0], RawValue):
            return None
        try:
            job = converter.from_payload(args[0].payload, kind.request)
        except Exception:
            return None
        if not isinstance(job, kind.request):  # a binary/plain payload decodes to bytes whatever the type
            return None
        return kind.task_queue(queues, job)
    return kind.task_queue(queues, None)


def wrong_queue(kind: JobKind, right: str, actual: str) -> NoReturn:
    """Fail the job: it belongs on `right`."""
    raise ApplicationError(
        f"a {kind.name} job runs on the '{right}' task queue, not '{actual}': start it on '{right}'",
        type="InvalidJob",
        non_retryable=True,
    )


class QueueGuard(Interceptor):
    """Checks every Conveyor job a worker starts against its kind's task-queue rule."""

    def __init__(self, queues: Mapping[str, str]) -> None:
        self.queues = dict(queues)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Check activity-shaped jobs (standalone activities), not the steps of workflows."""
        return _ActivityGuard(next, self.queues)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        """Check workflow-shaped jobs."""
        queues = self.queues

        class _WorkflowGuard(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                info = workflow.info()
                kind = kind_of(info.workflow_type)
                if kind is not None:
                    right = expected_queue(kind, queues, input.args, workflow.payload_converter())
                    if right is not None and right != info.task_queue:
                        wrong_queue(kind, right, info.task_queue)
                return await self.next.execute_workflow(input)

        return _WorkflowGuard


class _ActivityGuard(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, queues: Mapping[str, str]) -> None:
        super().__init__(next)
        self.queues = queues

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        kind = kind_of(info.activity_type)
        if kind is not None and kind.shape is Shape.ACTIVITY and not info.workflow_id:
            right = expected_queue(kind, self.queues, input.args, activity.payload_converter())
            if right is not None and right != info.task_queue:
                wrong_queue(kind, right, info.task_queue)
        return await self.next.execute_activity(input)


def activity_name(fn: Callable[..., Any]) -> str:
    """The activity type an `@activity.defn` callable is registered as."""
    return str(fn.__temporal_activity_definition.name)  # type: ignore[attr-defined]


def misrouted_jobs(queues: Mapping[str, str], hosted: Collection[str]) -> Callable[..., Awaitable[Any]]:
    """A dynamic activity for every worker: it runs when a worker is asked for an activity type it does not host
    (`hosted` are the types it does: Temporal gives those to their own functions, never to this one).

    - A standalone job of a Conveyor kind started on the wrong queue fails at once, naming the right queue.
    - Any other standalone activity (a typo in `temporal activity start --type`, a type no Conveyor worker runs)
      fails at once, non-retryably, as `UnknownActivityType` naming the type and the job kinds this queue runs:
      under the server's default retry policy (unlimited attempts) it would otherwise retry for ever.
    - A workflow's step fails retryably, as Temporal would: it may be a step a newer deploy added, reaching a worker
      not yet upgraded, and its workflow's policy bounds its attempts.
    """
    here = sorted(t for t in hosted if (k := kind_of(t)) is not None and k.shape is Shape.ACTIVITY and t == k.runs_as)

    @activity.defn(dynamic=True)
    async def misrouted(args: Sequence[RawValue]) -> Any:
        info = activity.info()
        kind = kind_of(info.activity_type)
        if info.workflow_id:
            raise ApplicationError(
                f"activity {info.activity_type!r} is not hosted on task queue {info.task_queue!r}",
                type="NotRegistered",
            )
        if kind is not None and kind.shape is Shape.ACTIVITY:
            right = expected_queue(kind, queues, args, activity.payload_converter())
            if right is not None and right != info.task_queue:
                wrong_queue(kind, right, info.task_queue)
        runs = f"the job kinds started as activities here: {', '.join(here)}" if here else "no job kind starts here"
        raise ApplicationError(
            f"no activity of type {info.activity_type!r} runs on task queue {info.task_queue!r} ({runs}); "
            "start a Conveyor job by its kind (`conveyor enqueue KIND`, `POST /jobs/<kind>`)",
            type="UnknownActivityType",
            non_retryable=True,
        )

    return misrouted
