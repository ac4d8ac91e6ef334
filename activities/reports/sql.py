"""SQL report sources: a report declared as a query on a named database, streamed at constant memory.

    sql_report(
        "sales-by-day", title="Sales by day", database="example", params=SalesByDayParams,
        query="SELECT day, count(*) AS orders, sum(amount) AS revenue FROM sales WHERE day >= :since GROUP BY day",
        columns={"day": date, "orders": int, "revenue": float},
    )

The query is fixed when the report is registered (a `text()` with bound parameters, or a Core `select`); a
producer sends only the report's parameters, validated by its model at the edge, so no SQL ever travels in a job.
The database is named, its URL is a worker setting (`CONVEYOR_DATABASES`, a secret), so credentials stay out of
inputs and histories.

Declaring is light: SQLAlchemy and the drivers (~12 MB of a worker's memory) load with the first render of a SQL
report (`activities.reports.sql_source`, which says how a query is read), not with every worker that registers one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from activities.reports.registry import ReportContext, Row, report
from contracts.errors import ReportSourceError
from contracts.report import NoParams

if TYPE_CHECKING:
    from sqlalchemy.sql import Select

    from activities.reports.sql_source import Statement

COLUMN_TYPES = (int, float, Decimal, str, bool, date, datetime)
"""The column types a report may declare, from which CSV, XLSX and PDF format each cell."""


def sql_report(
    name: str,
    *,
    title: str,
    database: str,
    query: str | Select[Any],
    columns: Mapping[str, type],
    params: type[BaseModel] = NoParams,
    timeout_seconds: float = 600.0,
) -> None:
    """Register report `name`: `query` run on database `database` with the report's parameters bound.

    `columns` names the result's columns in order with their Python types (`int`, `float`, `Decimal`, `str`,
    `bool`, `date`, `datetime`), from which CSV, XLSX and PDF format each cell. The query (its reading and the
    render of its rows) must finish within `timeout_seconds`, or the job fails as `QueryTimedOut`.
    """

    def statement() -> Statement:
        from activities.reports.sql_source import statement_of

        return statement_of(query, columns, params)

    _register(name, title, database, statement, columns, params, timeout_seconds)


def table_report(name: str, *, database: str, table_name: str, columns: Mapping[str, type], title: str = "") -> None:
    """Register report `name`: every row of table or view `table_name`, its `columns` in order (no parameters)."""

    def statement() -> Statement:
        from activities.reports.sql_source import table_statement

        return table_statement(table_name, list(columns))

    _register(name, title or table_name, database, statement, columns, NoParams, 600.0)


def _register(
    name: str,
    title: str,
    database: str,
    statement: Callable[[], Statement],
    columns: Mapping[str, type],
    params: type[BaseModel],
    timeout_seconds: float,
) -> None:
    """Register report `name`, whose `statement` is built once, by its first render."""
    unknown = {n: t for n, t in columns.items() if t not in COLUMN_TYPES}
    if unknown:
        raise TypeError(
            f"report {name!r}: unsupported column types {unknown}; use {sorted(t.__name__ for t in COLUMN_TYPES)}"
        )
    built = functools.cache(statement)

    def url(ctx: ReportContext) -> SecretStr:
        found = ctx.databases.get(database)
        if found is None:
            raise ReportSourceError(f"report {name!r} reads database {database!r}, which CONVEYOR_DATABASES lacks")
        return found

    def rows(values: BaseModel, ctx: ReportContext) -> Iterator[Row]:
        from activities.reports.sql_source import streamed

        yield from streamed(url(ctx), built(), values.model_dump(), ctx, time.monotonic() + timeout_seconds)

    def csv(values: BaseModel, ctx: ReportContext, path: Path) -> int | None:
        from activities.reports.sql_source import copied_csv

        deadline = time.monotonic() + timeout_seconds
        return copied_csv(url(ctx), built(), values.model_dump(), list(columns), ctx, deadline, path)

    report(name, title=title, columns=list(columns), params=params, csv=csv)(rows)
