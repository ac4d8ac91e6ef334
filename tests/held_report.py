"""A report for tests whose source stops after `hold_at` rows until the file `release` exists.

It makes a render observable without sleeps: a test sees progress mid-render, or kills the worker there, then
releases it. A file, not a threading.Event, so a worker in another process (`conveyor worker` run by a test)
obeys it too: run that worker with this module imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from activities.reports.registry import ReportContext, Row, report


class HeldParams(BaseModel):
    rows: int
    hold_at: int
    release: Path


@report("held-rows", title="Held rows", columns=["n", "label"], params=HeldParams)
def held_rows(params: HeldParams, ctx: ReportContext) -> Iterator[Row]:
    ctx.expect_rows(params.rows)
    for i in range(params.rows):
        while i == params.hold_at and not params.release.exists():
            if ctx.cancelled.wait(0.02):  # polls the file; returns at once when the activity is cancelled
                return
        yield (i, f"row {i}")
