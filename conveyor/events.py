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
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.errors import describe_errors
from conveyor.errors import InvalidJobError
from conveyor.settings import Settings
from workflows.welcome import EVENT_SIGNAL, UserEvent, WelcomeJob, WelcomeResult


@dataclass(frozen=True)
class EventRoute:
    """Where events of one name go: the workflow, its id for the event, and its input if it must start."""

    workflow: str
    job_id: Callable[[UserEvent], str]
    start_input: Callable[[UserEvent, Settings], BaseModel]
    result: type[BaseModel]


WELCOME = EventRoute(
    workflow="Welcome",
    job_id=lambda e: f"welcome-{e.user_id}",
    start_input=lambda e, s: WelcomeJob(user_id=e.user_id, follow_up_after=s.welcome_follow_up_after),
    result=WelcomeResult,
)

ROUTES: dict[str, EventRoute] = {"user.created": WELCOME, "user.activated": WELCOME}
"""Every event name a producer can send, and the flow it drives."""


def validate_event(event: UserEvent | Mapping[str, Any]) -> UserEvent:
    """`event` as a `UserEvent`, or `InvalidJobError` naming the fields at fault."""
    try:
        return event if isinstance(event, UserEvent) else UserEvent.model_validate(event)
    except ValidationError as e:
        raise InvalidJobError(f"invalid event: {describe_errors(e)}") from None


async def deliver(client: Client, settings: Settings, event: UserEvent) -> WorkflowHandle[Any, Any]:
    """Signal `event` to its flow, starting the flow if needed; the flow's handle (also when it already ended)."""
    route = ROUTES[event.name]
    job_id = route.job_id(event)
    try:
        return await client.start_workflow(
            route.workflow,
            route.start_input(event, settings),
            id=job_id,
            task_queue=settings.task_queue,
            start_signal=EVENT_SIGNAL,
            start_signal_args=[event],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=route.result,
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(job_id, result_type=route.result)


__all__ = ["ROUTES", "EventRoute", "UserEvent", "deliver", "validate_event"]
