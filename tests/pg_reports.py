"""SQL reports for tests over the `pg` database (the session's PostgreSQL, see `tests.postgres`): typed rows to
compare with `COPY`, a parameter bound into a `COPY`, PostgreSQL's text forms of other types, a read that waits at
row 1,000 on a lock the test holds, a read that times out behind a table lock, and queries the database refuses.
Importing this module registers them, in the producer and the worker."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import column, select, table

from activities.reports.sql import sql_report

EVENTS = 200_000
HOLD_LOCK = 42
"""The advisory lock the `pg-held` read waits on at row 1,000: a test holds it to stop the stream there."""
EVENTS_QUERY = "SELECT id, day, at, amount, label FROM events WHERE id <= :upto ORDER BY id"


class UpTo(BaseModel):
    upto: int = Field(ge=0)


class Labelled(BaseModel):
    label: str


SCHEMA = f"""
CREATE TABLE events (id int PRIMARY KEY, day date NOT NULL, at timestamp NOT NULL, amount numeric(10, 2),
                     label text NOT NULL);
INSERT INTO events SELECT g, date '2026-01-01' + g % 365, timestamp '2026-01-01' + g * interval '1 minute',
                          (g % 100000) / 100.0, 'event "' || g || '", ok' FROM generate_series(1, {EVENTS}) g;
CREATE TABLE ledger (id serial PRIMARY KEY, label text NOT NULL);
INSERT INTO ledger (label) VALUES ('opening');
GRANT SELECT ON events TO reader;
GRANT ALL ON ledger, ledger_id_seq TO reader;  -- writes are refused by the read-only transaction, not by grants
CREATE FUNCTION add_mallory() RETURNS int LANGUAGE sql
    AS $$ INSERT INTO ledger (label) VALUES ('mallory') RETURNING id $$;
"""
"""The test data: 200,000 typed events (text with quotes and commas, so CSV quoting is compared too), and a ledger
the read role may write, but not through a report, even by a function that writes when called from a SELECT."""

sql_report(
    "pg-events",
    title="Events",
    database="pg",
    params=UpTo,
    query=EVENTS_QUERY,
    columns={"id": int, "day": date, "at": datetime, "amount": Decimal, "label": str},
)
sql_report(
    "pg-held",
    title="Held events",
    database="pg",
    params=UpTo,
    query="SELECT id, label FROM events WHERE id <= :upto "
    f"AND (id <> 1000 OR CAST(pg_advisory_lock_shared({HOLD_LOCK}) AS text) = '')",
    columns={"id": int, "label": str},
)
sql_report(
    "pg-ledger", title="Ledger", database="pg", query="SELECT id, label FROM ledger ORDER BY id",
    columns={"id": int, "label": str}, timeout_seconds=1,
)  # fmt: skip
sql_report(
    "pg-sneaky-write", title="Writes", database="pg",
    query="SELECT add_mallory() AS id", columns={"id": int},
)  # fmt: skip
sql_report("pg-missing-table", title="Missing", database="pg", query="SELECT id FROM invoices", columns={"id": int})
sql_report("pg-bad-sql", title="Bad", database="pg", query="SELEC id FROM events", columns={"id": int})
sql_report(
    "pg-labelled", title="Labelled", database="pg", params=Labelled,
    query="SELECT id, label FROM events WHERE label = :label ORDER BY id", columns={"id": int, "label": str},
)  # fmt: skip
KINDS_QUERY = """SELECT true AS flag, timestamptz '2026-03-01 10:30:00.5+01' AS at, 1.0::float8 AS ratio,
    NULL::text AS missing, '' AS empty, 'a\nb' AS lines, 12.50::numeric(10, 2) AS amount"""
sql_report(
    "pg-kinds", title="Kinds", database="pg", query=KINDS_QUERY,
    columns={"flag": bool, "at": datetime, "ratio": float, "missing": str, "empty": str, "lines": str,
             "amount": Decimal},
)  # fmt: skip
EVENTS_TABLE = table("events", column("id"), column("label"))
sql_report(
    "pg-some-events", title="Some events", database="pg", columns={"id": int, "label": str},
    query=select(*EVENTS_TABLE.c).where(EVENTS_TABLE.c.id.in_([2, 3, 5])).order_by(EVENTS_TABLE.c.id),
)  # fmt: skip
