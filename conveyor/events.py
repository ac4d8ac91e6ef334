"""Events driving jobs: each event name routes to the workflow it concerns, delivered by signal-with-start.

Signal-with-start starts the workflow if no run of that id is open and signals it either way, atomically, so a
producer fires events without knowing whether the flow exists yet. A flow that already ended is not started
again (id reuse is refused): a late or repeated event cannot send a second welcome email.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.kinds import KINDS, JobKind
from contracts.welcome import EVENT_SIGNAL, UserEvent, WelcomeJob
from conveyor import search_attributes
from conveyor.errors import InvalidJobError
from conveyor.settings import Settings
from conveyor.tenants import tenant_in


@dataclass(frozen=True)
class EventRoute:
    """Where events of one name go: the job kind (a workflow), its job id for the event, and the job's input if it
    must start (completed by the kind's preparation from settings)."""

    kind: JobKind
    job_id: Callable[[UserEvent], str]
    start_input: Callable[[UserEvent], BaseModel]


WELCOME = EventRoute(
    kind=KINDS["welcome"],
    job_id=lambda e: f"welcome-{e.user_id}",
    start_input=lambda e: WelcomeJob(user_id=e.user_id),
)

ROUTES: dict[str, EventRoute] = {"user.created": WELCOME, "user.activated": WELCOME}
"""Every event name a producer can send, and the flow it drives."""


def validate_event(event: UserEvent | Mapping[str, Any]) -> UserEvent:
    """`event` as a `UserEvent`, or `InvalidJobError` naming the fields at fault."""
    try:
        return event if isinstance(event, UserEvent) else UserEvent.model_validate(event)
    except ValidationError as e:
        raise InvalidJobError.of("event", e) from None


async def deliver(
    client: Client, settings: Settings, event: UserEvent, priority: Priority = Priority.default
) -> WorkflowHandle[Any, Any]:
    """Signal `event` to its flow, starting the flow if needed (with `priority`: a tenant's fairness key, which
    also becomes its `Tenant` search attribute); the flow's handle (also when it already ended)."""
    route = ROUTES[event.name]
    job_id = route.job_id(event)
    job = route.kind.prepare(settings, route.start_input(event))
    try:
        return await client.start_workflow(
            route.kind.runs_as,
            job,
            id=job_id,
            task_queue=route.kind.task_queue(settings.queues, job),
            start_signal=EVENT_SIGNAL,
            start_signal_args=[event],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            priority=priority,
            search_attributes=search_attributes.for_job(None, [], tenant_in(priority))
            if settings.search_attributes
            else None,
            result_type=route.kind.result,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(job_id, result_type=route.kind.result)


__all__ = ["ROUTES", "EventRoute", "UserEvent", "deliver", "validate_event"]
