"""How far a job is: the one progress model every job reports and `conveyor status` reads.

A job reports it one of two ways, and both carry this model:
- a workflow answers the `status` query (`STATUS_QUERY`) with its `Progress`: the job's stage, its own estimate
  of how far it is, and what it counts itself (a broadcast: recipients sent and failed of the total);
- an activity (a step of a workflow, or an activity-shaped job itself) heartbeats it as the **first** of its
  heartbeat details (`activities.liveness.beat`): what the step is doing and, if it counts, how many units of
  how many. State an activity needs to resume from on its next attempt (a broadcast batch: who already got the
  message) rides as the *second* detail, so a reader never has to tell progress and resume state apart.

The workflow cannot see its activities' heartbeats, so `status` puts the two together (`with_step`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

STATUS_QUERY = "status"
"""The query every job workflow answers with its `Progress` (the web UI's Queries tab shows it too)."""


class Progress(BaseModel):
    """A job's (or its current step's) stage, and `done` of `total` `unit`s when it counts something.

    Unknown fields are ignored rather than refused: a reader older or newer than the writer (a CLI during a deploy,
    a heartbeat recorded before a field was added) shows what it understands instead of failing.
    """

    model_config = ConfigDict(extra="ignore")

    stage: str | None = Field(None, description="What the job is doing: `rendering`, `sending`, `waiting for ...`.")
    percent: int | None = Field(None, description="The writer's own estimate (0-100), used when nothing is counted.")
    done: int = Field(0, description="Units handled so far (failed ones included).")
    failed: int = Field(0, description="Of `done`, the units that failed for good (a broadcast's refused recipients).")
    total: int | None = Field(None, description="Units in all, once known.")
    unit: str | None = Field(None, description="What is counted (`rows`, `recipients`); None: nothing is.")
    until: datetime | None = Field(None, description="When the wait the job is in ends (a welcome flow's follow-up).")
    detail: str | None = Field(None, description="Anything else worth showing, e.g. why a job is failing.")

    def percent_done(self) -> int | None:
        """0-100: from the counts when the total is known, else the writer's estimate (None without one)."""
        if self.unit is not None and self.total:
            return min(100, 100 * self.done // self.total)
        return self.percent

    def with_step(self, step: Progress | None) -> Progress:
        """This (a workflow's) progress with the counts its running step heartbeated, unless the workflow counts
        something itself: a report's rows show under its `rendering` stage, while a broadcast keeps its own
        recipient counts (each batch counts only its own)."""
        if step is None or step.unit is None or self.unit is not None:
            return self
        counts = {"done": step.done, "failed": step.failed, "total": step.total, "unit": step.unit}
        return self.model_copy(update=counts)

    def describe(self) -> str | None:
        """`1,000/3,000 rows`, `421/1,000 recipients (1 failed)`, `until 2026-12-04 10:00 UTC`; None when there is
        nothing beyond the stage to say."""
        parts: list[str] = []
        if self.unit is not None:
            counted = f"{self.done:,}/{self.total:,}" if self.total is not None else f"{self.done:,}"
            parts.append(f"{counted} {self.unit}" + (f" ({self.failed:,} failed)" if self.failed else ""))
        if self.until is not None:
            parts.append(f"until {self.until:%Y-%m-%d %H:%M %Z}".rstrip())
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts) or None


Reporter = Callable[[Progress, BaseModel | None], None]
"""Takes a running `@job` function's progress and resume state, and heartbeats them."""

REPORTER: ContextVar[Reporter | None] = ContextVar("conveyor_progress_reporter", default=None)
"""Where `job.progress(...)` sends a `@job` function's progress while the worker runs it (set around the call by
`activities.team_jobs`; None outside a worker, e.g. a unit test calling the function inline). A variable of the
running context, so a plain function in the worker's thread pool reports to its own job."""
