"""SQL report sources: a report declared as a query on a named database, streamed at constant memory.

    sql_report(
        "sales-by-day", title="Sales by day", database="example", params=SalesByDayParams,
        query="SELECT day, count(*) AS orders, sum(amount) AS revenue FROM sales WHERE day >= :since GROUP BY day",
        columns={"day": date, "orders": int, "revenue": float},
    )

The query is fixed when the report is registered (a `text()` with bound parameters, or a Core `select`); a
producer sends only the report's parameters, validated by its model at the edge, so no SQL ever travels in a job.
The database is named, its URL is a worker setting (`CONVEYOR_DATABASES`, a secret), so credentials stay out of
inputs and histories; errors quote the driver's message, never the URL or SQLAlchemy's statement dump.

Rows are streamed (`stream_results` + `yield_per`), not paged by key: a retried render starts over anyway (the
file being written cannot be resumed, see `activities.report`), so keyset pagination's resumability would buy
nothing, while one statement in one transaction reads one consistent snapshot and needs no unique sort key per
report. The transaction is read-only (SQLite: `PRAGMA query_only`) and has a time-out (SQLite: a progress handler
that interrupts the statement past its deadline); both end the job for good, as retrying cannot change them.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    bindparam,
    column,
    create_engine,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.sql import Executable, Select
from sqlalchemy.types import TypeEngine

from activities.reports.registry import ReportContext, Row, report
from contracts.errors import QueryTimedOut, ReportSourceError
from contracts.report import NoParams

SQL_TYPES: dict[type, TypeEngine[Any]] = {
    int: Integer(),
    float: Float(),
    Decimal: Numeric(asdecimal=True),
    str: String(),
    bool: Boolean(),
    date: Date(),
    datetime: DateTime(),
}
"""The column types a report may declare, and how SQLAlchemy reads each (SQLite keeps dates as text: `Date`
turns them back into dates, so XLSX shows a date cell and CSV an ISO date)."""
PAGE = 500
"""Rows fetched from the cursor at once (`yield_per`): the memory a render holds, whatever the result's size."""
CHECK_EVERY = 10_000
"""SQLite virtual-machine steps between two looks at the deadline: ~1 ms of work, negligible overhead."""


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
    unknown = {n: t for n, t in columns.items() if t not in SQL_TYPES}
    if unknown:
        raise TypeError(
            f"report {name!r}: unsupported column types {unknown}; use {sorted(t.__name__ for t in SQL_TYPES)}"
        )
    statement: Executable = query if isinstance(query, Select) else _typed_text(query, columns, params)

    def rows(values: BaseModel, ctx: ReportContext) -> Iterator[Row]:
        url = ctx.databases.get(database)
        if url is None:
            raise ReportSourceError(f"report {name!r} reads database {database!r}, which CONVEYOR_DATABASES lacks")
        yield from _streamed(url, statement, values.model_dump(), ctx, time.monotonic() + timeout_seconds)

    report(name, title=title, columns=list(columns), params=params)(rows)


def _typed_text(query: str, columns: Mapping[str, type], params: type[BaseModel]) -> Executable:
    """`query` as `text()` with typed result columns, and parameters typed by the params model's fields, so a
    `date` parameter is bound the way the database stores dates (SQLite: ISO text), not by the driver's guess."""
    typed = [
        bindparam(n, type_=SQL_TYPES[f.annotation])
        for n, f in params.model_fields.items()
        if f.annotation in SQL_TYPES and re.search(rf":{n}\b", query)
    ]
    return text(query).bindparams(*typed).columns(*(column(n, SQL_TYPES[t]) for n, t in columns.items()))


def table_report(name: str, *, database: str, table_name: str, columns: Mapping[str, type], title: str = "") -> None:
    """Register report `name`: every row of table or view `table_name`, its `columns` in order (no parameters)."""
    view = table(table_name, *(column(n) for n in columns))
    sql_report(name, title=title or table_name, database=database, query=select(*view.c), columns=columns)


def _streamed(
    url: SecretStr, statement: Executable, values: dict[str, Any], ctx: ReportContext, deadline: float
) -> Iterator[Row]:
    """The statement's rows, read `PAGE` at a time inside a read-only transaction that ends at `deadline`."""
    try:  # parse errors quote the URL: say only that it does not parse
        backend = make_url(url.get_secret_value()).get_backend_name()
    except ArgumentError:
        raise ReportSourceError("the database URL does not parse") from None
    if backend != "sqlite":
        raise ReportSourceError(f"{backend!r} databases are not supported yet (SQLite is)")
    engine = create_engine(url.get_secret_value())  # one per render: SQLite connects in microseconds
    try:
        with engine.connect() as conn:
            _read_only(conn, ctx, deadline)
            result = conn.execution_options(stream_results=True, yield_per=PAGE).execute(statement, values)
            for row in result:
                yield tuple(row)
    except DBAPIError as e:
        if isinstance(e.orig, sqlite3.OperationalError) and str(e.orig) == "interrupted":
            if ctx.cancelled.is_set():
                return  # the activity was cancelled: it stops; its result is never used
            raise QueryTimedOut("the query ran past its time-out") from None
        raise ReportSourceError(f"the database refused the query: {e.orig}") from None
    except SQLAlchemyError as e:  # no DB-API error: a driver or connection problem; its text names no URL
        raise ReportSourceError(f"cannot read the database: {type(e).__name__}") from None
    finally:
        engine.dispose()


def _read_only(conn: Connection, ctx: ReportContext, deadline: float) -> None:
    """Make this connection refuse writes and stop its statement at `deadline` or when the job is cancelled."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    raw.execute("PRAGMA query_only = ON")
    raw.set_progress_handler(lambda: int(ctx.cancelled.is_set() or time.monotonic() > deadline), CHECK_EVERY)
