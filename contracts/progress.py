"""What a long activity heartbeats: how far it is. `conveyor status` reads it from the pending activity.

The workflow cannot see heartbeats, so its `status` query only knows the stage; the client reads this from
`describe()` (the pending activity's last heartbeat details) and shows `40,000/100,000 rows` beside it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Progress(BaseModel):
    """`done` of `total` (None while unknown) `unit`s."""

    model_config = ConfigDict(extra="forbid")

    done: int
    total: int | None = None
    unit: str = "rows"

    @property
    def percent(self) -> int | None:
        """0-100, or None while the total is unknown."""
        return min(100, 100 * self.done // self.total) if self.total else None

    def describe(self) -> str:
        """`40,000/100,000 rows`, or `40,000 rows` without a total."""
        return f"{self.done:,}/{self.total:,} {self.unit}" if self.total is not None else f"{self.done:,} {self.unit}"
