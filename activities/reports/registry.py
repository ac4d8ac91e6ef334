"""The report registry: a report is a named function that yields rows, registered with `@report`.

    class SalesParams(BaseModel):
        month: str

    @report("sales", title="Sales by region", columns=["region", "orders", "revenue"], params=SalesParams)
    def sales(params: SalesParams, ctx: ReportContext) -> Iterator[Sequence[object]]:
        ctx.expect_rows(count_regions())          # optional: lets `conveyor status` show done/total
        for region in regions(params.month):
            yield (region.name, region.orders, region.revenue)

The function runs in a worker thread, so it may block (files, databases). Rows are consumed as they come, a
chunk at a time, so a report can be far larger than memory. With `columns=None` the first row is the header.
Register reports in a module both the producer and the worker import, so an unknown name is refused at the edge.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr
from temporalio.client import Client

from contracts.errors import ReportSourceError
from contracts.progress import Progress
from contracts.report import NoParams, declare_report

T = TypeVar("T")
Row = Sequence[object]


@dataclass
class ReportContext:
    """What a report function may use besides its parameters; `expect_rows` announces the total for progress."""

    progress: Progress
    cancelled: threading.Event
    client: Client | None = None
    loop: asyncio.AbstractEventLoop | None = None
    workflow_types: list[str] = field(default_factory=list)
    """The job workflows this worker runs (`SendEmail`, ...), for reports about jobs."""
    activity_types: list[str] = field(default_factory=list)
    """The jobs it runs as standalone activities (`email`, `sms`), for reports about jobs."""
    databases: Mapping[str, SecretStr] = field(default_factory=dict)
    """The databases SQL reports read, by name (`CONVEYOR_DATABASES`): URLs are secrets."""
    attempt: int = 1
    """Which attempt of the job's render this is (1 for the first): a source may treat a repeated failure as final."""

    def expect_rows(self, total: int) -> None:
        """Announce how many rows will come, so progress shows `done/total`."""
        self.progress.total = total

    def temporal(self, call: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
        """Run `call(client)` on the worker's event loop and wait for it: the Temporal client is async."""
        if self.client is None or self.loop is None:
            raise ReportSourceError("this report reads Temporal, but the worker gave it no Temporal client")
        return asyncio.run_coroutine_threadsafe(call(self.client), self.loop).result()


CsvWriter = Callable[[Any, ReportContext, Path], int | None]
"""Writes a report's CSV to the path by its own means (see `Report.csv`)."""


@dataclass(frozen=True)
class Report:
    """One registered report."""

    name: str
    title: str
    columns: tuple[str, ...] | None
    params: type[BaseModel]
    rows: Callable[[Any, ReportContext], Iterable[Row]]
    csv: CsvWriter | None = None
    """A faster way to the report's CSV where its source has one (a PostgreSQL query: `COPY`): writes the file
    itself and returns its row count, or returns None to leave the rows to the CSV writer."""


REPORTS: dict[str, Report] = {}
"""Every registered report by name."""

F = TypeVar("F", bound=Callable[..., Iterable[Row]])


def report(
    name: str,
    *,
    title: str,
    columns: Sequence[str] | None = None,
    params: type[BaseModel] = NoParams,
    csv: CsvWriter | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as report `name`; `params` validates the job's `params` at the edge."""

    def register(fn: F) -> F:
        declare_report(name, params)
        REPORTS[name] = Report(name, title, tuple(columns) if columns is not None else None, params, fn, csv)
        return fn

    return register
