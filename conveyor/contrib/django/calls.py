"""What a Django task's job carries: the call as Django's `TaskResult` records it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from contracts.kinds import DEFAULT_QUEUE
from conveyor.contrib.django.compat import DEFAULT_TASK_QUEUE_NAME


class TaskCall(BaseModel):
    """One enqueued call of a Django task: the input of its job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    args: list[JsonValue] = Field(default_factory=list)
    kwargs: dict[str, JsonValue] = Field(default_factory=dict)
    queue_name: str = DEFAULT_TASK_QUEUE_NAME
    """The Django queue it was enqueued on (see `task_queue`)."""
    priority: int = 0
    """Django's priority (-100 to 100), kept so the task is rebuilt as it was enqueued."""


class FirstStart(BaseModel):
    """When a task's first attempt started: carried from attempt to attempt in its heartbeat (Temporal keeps
    only the latest attempt's start), so `started_at` is the first one, as Django defines it."""

    at: str


def task_queue(call: TaskCall) -> str:
    """The task queue of a call: Django's `default` is Conveyor's default queue; another name is its own queue
    (or a Conveyor role of that name, as `@job(queue=...)` reads it)."""
    return DEFAULT_QUEUE if call.queue_name == DEFAULT_TASK_QUEUE_NAME else call.queue_name
