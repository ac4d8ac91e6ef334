"""The running side of SQL report sources (`activities.reports.sql` declares them): a report's query executed on
its named database, streamed at constant memory. It loads SQLAlchemy and the database's driver, so a worker loads
it with its first SQL report, not at start.

Rows are streamed (`stream_results` + `yield_per`: a server-side cursor on PostgreSQL), not paged by key: a
retried render starts over anyway (the file being written cannot be resumed, see `activities.report`), so keyset
pagination's resumability would buy nothing, while one statement in one transaction reads one consistent snapshot
and needs no unique sort key per report. The transaction is read-only (SQLite: `PRAGMA query_only`; PostgreSQL:
`BEGIN READ ONLY`), so a write fails for good. Past its deadline, or when the job is cancelled, a watcher thread
interrupts the running statement (PostgreSQL also stops it itself, by `statement_timeout`, should the worker die).
A failure of the connection or the server is retried (`DatabaseUnavailable`), one of the query fails the job
(`ReportSourceError`), and a time-out is retried once (see `QueryTimedOut`). Errors quote the driver's message,
never the URL or SQLAlchemy's statement dump.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import quote

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
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Select
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from activities.reports.registry import ReportContext, Row
from activities.reports.sql import COLUMN_TYPES
from contracts.errors import DatabaseUnavailable, QueryTimedOut, ReportSourceError

SQL_TYPES: dict[type, TypeEngine[Any]] = {
    int: Integer(),
    float: Float(),
    Decimal: Numeric(asdecimal=True),
    str: String(),
    bool: Boolean(),
    date: Date(),
    datetime: DateTime(),
}
"""How SQLAlchemy reads each column type a report may declare (SQLite keeps dates as text: `Date` turns them back
into dates, so XLSX shows a date cell and CSV an ISO date)."""
assert set(SQL_TYPES) == set(COLUMN_TYPES), "a declarable column type SQLAlchemy cannot read"
Statement: TypeAlias = "Select[Any] | TextualSelect"
"""A SQL report's query: a Core `select`, or a `text()` with its typed columns."""
PAGE = 500
"""Rows fetched from the cursor at once (`yield_per`): the memory a render holds, whatever the result's size."""
COPY_BUFFER = 1 << 20
"""Bytes of `COPY`'s output gathered before a write to the file (its messages are one row each)."""
WATCH_EVERY = 0.05
"""Seconds between two looks at the deadline and the job's cancellation, by a thread that sleeps otherwise."""


def statement_of(query: str | Select[Any], columns: Mapping[str, type], params: type[BaseModel]) -> Statement:
    """A report's query as it runs: a Core `select` as it is; a string as `text()` with typed result columns, and
    parameters typed by the params model's fields, so a `date` parameter is bound the way the database stores dates
    (SQLite: ISO text), not by the driver's guess."""
    if isinstance(query, Select):
        return query
    typed = [
        bindparam(n, type_=SQL_TYPES[f.annotation])
        for n, f in params.model_fields.items()
        if f.annotation in SQL_TYPES and re.search(rf":{n}\b", query)
    ]
    return text(query).bindparams(*typed).columns(*(column(n, SQL_TYPES[t]) for n, t in columns.items()))


def table_statement(table_name: str, columns: list[str]) -> Statement:
    """Every row of table or view `table_name`, its `columns` in order."""
    view = table(table_name, *(column(n) for n in columns))
    return select(*view.c)


def streamed(
    url: SecretStr, statement: Statement, values: dict[str, Any], ctx: ReportContext, deadline: float
) -> Iterator[Row]:
    """The statement's rows, read `PAGE` at a time inside a read-only transaction that ends at `deadline`."""
    with _connected(url, ctx, deadline) as conn:
        result = conn.execution_options(stream_results=True, yield_per=PAGE).execute(statement, values)
        for page in result.partitions():  # a page at a time: no per-row call into SQLAlchemy
            yield from map(tuple, page)


def copied_csv(
    url: SecretStr,
    statement: Statement,
    values: dict[str, Any],
    columns: list[str],
    ctx: ReportContext,
    deadline: float,
    path: Path,
) -> int | None:
    """Write the statement's result to `path` as CSV by PostgreSQL's own `COPY (...) TO STDOUT`, and return its row
    count; None, writing nothing, when the database is not PostgreSQL (its rows then go through the CSV writer).

    The server formats the CSV, so the worker only passes bytes through: no row becomes Python values and back
    (3.5x `COPY`'s time that way; `COPY`'s own this way, as `python -m bench --only pg` measures). `COPY` takes no
    bound parameters, so the report's parameters are bound client-side by psycopg (`ClientCursor.mogrify`, which
    quotes each value as a literal of its type), never by string formatting. The same read-only transaction,
    time-out and interrupt as a streamed read apply; the header is the report's declared column names, as the CSV
    writer's is.
    """
    if _backend(url) != "postgresql":
        return None
    import psycopg  # only where PostgreSQL is read: SQLAlchemy's dialect has loaded it already

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)  # COPY ends its lines with \n: one style a file
    done = 0
    with _connected(url, ctx, deadline) as conn, path.open("wb", buffering=COPY_BUFFER) as out:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        # The statement as this dialect runs it, `IN` lists expanded to one placeholder a value, then bound.
        expanded = statement.compile(dialect=conn.dialect).construct_expanded_state(values)
        cursor = psycopg.ClientCursor(raw)
        try:
            query = cursor.mogrify(expanded.statement, expanded.parameters)
            out.write(header.getvalue().encode())
            with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
                for done, line in enumerate(copy, start=1):  # one row per COPY message
                    out.write(line)
                    if not done % PAGE:  # progress a page at a time, as a streamed read's
                        ctx.progress.done = done
        except psycopg.Error as e:  # raised by psycopg itself, not through SQLAlchemy: classified the same way
            conn.invalidate()  # the connection may be gone; it is closed, not rolled back
            raise DBAPIError.instance(None, None, e, psycopg.Error) from None
    ctx.progress.done = done  # also when cancelled (`_connected` ends quietly then): the result goes unused
    return done


def _backend(url: SecretStr) -> str:
    """The URL's SQLAlchemy backend name (`postgresql`, `sqlite`, ...)."""
    try:  # parse errors quote the URL: say only that it does not parse
        return make_url(url.get_secret_value()).get_backend_name()
    except ArgumentError:
        raise ReportSourceError("the database URL does not parse") from None


@contextmanager
def _connected(url: SecretStr, ctx: ReportContext, deadline: float) -> Iterator[Connection]:
    """A new connection in a read-only transaction that ends at `deadline` (or when the job is cancelled); the
    database's failures inside become the job's typed errors, and an interrupt on cancellation ends it quietly."""
    secret = url.get_secret_value()
    dialect = DIALECTS.get(_backend(url))
    parsed = make_url(secret)
    if dialect is None:
        raise ReportSourceError(
            f"{parsed.get_backend_name()!r} databases are not supported (use {' or '.join(DIALECTS)})"
        )
    engine = create_engine(parsed, poolclass=NullPool, connect_args=dialect.connect_args)
    try:
        with engine.connect() as conn, interrupted_at(deadline, ctx, dialect.begin(conn, deadline)):
            yield conn
    except DBAPIError as e:
        if dialect.interrupted(e):
            if ctx.cancelled.is_set():
                return  # the activity was cancelled: it stops; its result is never used
            raise QueryTimedOut("the query ran past its time-out", final=ctx.attempt > 1) from None
        reason = hidden(str(e.orig), parsed.password)
        if dialect.transient(e):
            raise DatabaseUnavailable(f"the database connection failed: {reason}") from None
        raise ReportSourceError(f"the database refused the query: {reason}") from None
    except SQLAlchemyError as e:  # no DB-API error: a driver or connection problem; its text names no URL
        raise ReportSourceError(f"cannot read the database: {type(e).__name__}") from None
    finally:
        engine.dispose()


def hidden(message: str, password: str | None) -> str:
    """`message` with the URL's password starred out: drivers' messages do not quote it, but a message is the one
    place a secret could leak from into a job's failure, so none is trusted to."""
    if not password:
        return message
    return message.replace(password, "***").replace(quote(password, safe=""), "***")


@contextmanager
def interrupted_at(deadline: float, ctx: ReportContext, interrupt: Callable[[], None]) -> Iterator[None]:
    """Around a read: a watcher thread calls `interrupt` (which makes the running statement fail) once `deadline`
    passes or the job is cancelled, so a long statement stops promptly even mid-fetch, and nothing is left running
    on the database for a job that no longer wants its rows."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_EVERY):
            if ctx.cancelled.is_set() or time.monotonic() > deadline:
                interrupt()
                return

    watcher = threading.Thread(target=watch, name="report-sql-deadline", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases a SQL report reads: how a connection is made read-only and bounded in
    time, how its running statement is interrupted, and which of its failures retrying can cure."""

    begin: Callable[[Connection, float], Callable[[], None]]
    """Start the read-only transaction (with its server-side time-out, where there is one) on a new connection;
    returns the thread-safe call that interrupts the connection's running statement."""
    interrupted: Callable[[DBAPIError], bool]
    """The driver error a statement stopped by `begin`'s interrupt or time-out fails with."""
    transient: Callable[[DBAPIError], bool]
    """A failure of the connection or the server, not of the query: retried."""
    connect_args: dict[str, Any] = field(default_factory=dict)


def _sqlite_begin(conn: Connection, deadline: float) -> Callable[[], None]:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    raw.execute("PRAGMA query_only = ON")
    return raw.interrupt


def _postgres_begin(conn: Connection, deadline: float) -> Callable[[], None]:
    conn.execution_options(postgresql_readonly=True)  # BEGIN READ ONLY: any write fails as 25006
    # Also on the server: a statement past the deadline is stopped even if this worker died mid-read. The text
    # forms `COPY` writes are fixed here, not left to the server's or the role's settings (see `POSTGRES_TEXT`).
    settings = POSTGRES_TEXT | {"statement_timeout": str(max(1, int((deadline - time.monotonic()) * 1000)))}
    calls = ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(settings)))
    names = {f"n{i}": n for i, n in enumerate(settings)} | {f"v{i}": v for i, v in enumerate(settings.values())}
    conn.execute(text(f"SELECT {calls}"), names)
    import psycopg  # only where PostgreSQL is read: SQLAlchemy's dialect has loaded it already

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw.cancel_safe


POSTGRES_TEXT = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "extra_float_digits": "1", "client_encoding": "UTF8"}
"""The session's text forms, for the transaction: a CSV by `COPY` writes dates as ISO (`2026-03-01`), times with
time zone in UTC (`2026-03-01 09:30:00+00`, as XLSX shows them), floats in their shortest exact form, in UTF-8."""

POSTGRES_TRANSIENT = ("08", "40", "53", "57")
"""SQLSTATE classes retried: connection exceptions, serialization failures and deadlocks, insufficient resources
(too many connections, out of disk), operator intervention (shutdown, restart, a terminated session). Syntax
errors, unknown tables, permissions and writes in a read-only transaction are the query's and fail for good."""

LOGIN_REFUSED = re.compile(
    r'password authentication failed|no pg_hba\.conf entry|(role|database) ".*" does not exist|permission denied'
)
"""libpq's messages for a login the server refuses (they carry no SQLSTATE): a wrong URL or grant, which waiting
cannot fix, so the job fails at once and its alert tells the operator, instead of retrying for minutes."""


def _postgres_transient(e: DBAPIError) -> bool:
    state = getattr(e.orig, "sqlstate", None)
    if state is None:  # no answer to a query: the connection itself failed or broke
        return e.connection_invalidated or not LOGIN_REFUSED.search(str(e.orig))
    return state[:2] in POSTGRES_TRANSIENT


DIALECTS: dict[str, Dialect] = {
    "sqlite": Dialect(
        begin=_sqlite_begin,
        interrupted=lambda e: isinstance(e.orig, sqlite3.OperationalError) and str(e.orig) == "interrupted",
        transient=lambda e: getattr(e.orig, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"),
    ),
    "postgresql": Dialect(
        begin=_postgres_begin,
        interrupted=lambda e: getattr(e.orig, "sqlstate", None) == "57014",  # query_canceled: ours or the time-out
        transient=_postgres_transient,
        # a database that does not answer fails the attempt in 10 s, not a TCP time-out; the session is named
        connect_args={"connect_timeout": 10, "application_name": "conveyor-report"},
    ),
}
"""The databases SQL reports read, by SQLAlchemy backend name. MySQL would be one more entry (read-only through
`SET TRANSACTION READ ONLY`, interrupted by `KILL QUERY`); it is not tested, so it is not offered."""
