"""A PostgreSQL export: Conveyor's SQL report source rendering CSV and XLSX, against raw psycopg doing the same.

    python -m bench --only pg                     # as a case of the benchmark (1,000,000 rows)
    python -m bench.pg_export --rows 200000       # alone

Starts a PostgreSQL cluster of its own (Debian's binaries, as the tests do), fills a table of typed rows (int,
date, timestamp, numeric, text), then renders `SELECT ... WHERE id <= :upto ORDER BY id` in fresh child processes,
each reporting its own peak RSS. Baselines: CSV against psycopg's `COPY ... TO STDOUT` written to a file (the
fastest way out of PostgreSQL: the server formats the CSV); XLSX against a plain XlsxWriter constant-memory loop
over a psycopg server-side cursor. Conveyor's side is what the report activity's render thread does
(`activities.report.render`: for CSV the SQL source's `COPY`, for XLSX its server-side cursor and the table
writer; read-only transaction, time-out, deadline watcher), without Temporal around it. Conveyor's peak RSS is
also measured at a tenth of the rows, to show it does not grow with them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from bench.figures import Row, Spread
from bench.proc import rss_mb
from tests.postgres import PostgresServer  # the tests' throwaway cluster: initdb, a free port, fsync off

ROOT = Path(__file__).parent.parent
QUERY = "SELECT id, day, at, amount, label FROM events WHERE id <= :upto ORDER BY id"
COLUMNS = {"id": int, "day": date, "at": datetime, "amount": Decimal, "label": str}
RENDERERS = ("copy-csv", "conveyor-csv", "raw-xlsx", "conveyor-xlsx")
CONVEYORS = ("conveyor-csv", "conveyor-xlsx")
CSV_RUNS = 3
"""Runs of each CSV renderer per repetition: a CSV takes seconds where an XLSX takes minutes, so a few more runs
steady its median against the shared machine's noise at little cost."""
URL_VARIABLE = "BENCH_PG_URL"
"""How a child gets the database URL (with its password)."""


def fill(server: PostgresServer, n: int) -> None:
    """The `events` table with `n` rows, readable by the server's read role."""
    with server.admin() as db:
        db.execute(
            "CREATE TABLE events (id int PRIMARY KEY, day date, at timestamp, amount numeric(10, 2), label text)"
        )
        db.execute(
            "INSERT INTO events SELECT g, date '2026-01-01' + g %% 365, timestamp '2026-01-01' + g * interval '1 s', "
            "(g %% 100000) / 100.0, 'customer ' || g %% 977 FROM generate_series(1, %s) g",
            [n],
        )
        db.execute("ANALYZE events; GRANT SELECT ON events TO reader")


def copy_csv(url: str, path: Path, upto: int) -> None:
    import psycopg

    sql = f"COPY ({QUERY.replace(':upto', str(upto))}) TO STDOUT WITH (FORMAT csv, HEADER)"
    with psycopg.connect(url) as db, db.cursor().copy(sql) as copy, path.open("wb") as out:
        for block in copy:
            out.write(block)


def raw_xlsx(url: str, path: Path, upto: int) -> None:
    import psycopg
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, list(COLUMNS))
    with psycopg.connect(url) as db, db.cursor(name="export") as cursor:
        cursor.itersize = 500
        cursor.execute(QUERY.replace(":upto", "%s"), [upto])
        for i, row in enumerate(cursor, start=1):
            sheet.write_row(i, 0, row)
    book.close()


class UpTo(BaseModel):
    upto: int


def conveyor(url: str, path: Path, fmt: str, upto: int) -> None:
    """The report activity's render of a SQL report (`activities.report.render`), without Temporal."""
    import threading

    from pydantic import SecretStr

    from activities.report import render
    from activities.reports.registry import REPORTS, ReportContext
    from activities.reports.sql import sql_report
    from contracts.progress import Progress
    from contracts.report import ReportFormat

    sql_report("bench-events", title="Events", database="bench", params=UpTo, query=QUERY, columns=COLUMNS)
    ctx = ReportContext(progress=Progress(), cancelled=threading.Event(), databases={"bench": SecretStr(url)})
    rows, _ = render(REPORTS["bench-events"], UpTo(upto=upto), ReportFormat(fmt), path, ctx)
    assert rows == upto, f"{rows} rows rendered of {upto}"


def child(renderer: str, url: str, out: Path, upto: int) -> float:
    """Render once in this process (a child of the bench); the seconds the render took, imports excluded."""
    import psycopg  # noqa: F401  (imported before the clock starts: a worker has long imported its modules)
    import xlsxwriter  # noqa: F401

    if renderer.startswith("conveyor-"):
        import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401  (SQLAlchemy's dialect: a worker loaded it long ago)

        import activities.report
        import activities.reports.sql_source
        import activities.reports.xlsx  # noqa: F401

    psycopg_url = url.replace("postgresql+psycopg", "postgresql")
    if renderer == "copy-csv":
        return timed(copy_csv, psycopg_url, out / "out.csv", upto)
    if renderer == "raw-xlsx":
        return timed(raw_xlsx, psycopg_url, out / "out.xlsx", upto)
    fmt = renderer.removeprefix("conveyor-")
    return timed(conveyor, url, out / f"out.{fmt}", fmt, upto)


def timed(render: Callable[..., None], *args: object) -> float:
    """Seconds `render(*args)` takes."""
    start = time.perf_counter()
    render(*args)
    return time.perf_counter() - start


def one_run(renderer: str, url: str, upto: int, timeout: float) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one render of rows 1 to `upto` in a child process: the render's own time, the
    process's peak."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "bench.pg_export", "--child", renderer, "--out", tmp, "--upto", str(upto)]
        env = os.environ | {URL_VARIABLE: url}  # not in argv, where any process listing shows it
        ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        if ran.returncode != 0:
            raise RuntimeError(f"{renderer} failed ({ran.returncode}): {ran.stderr[-500:]}")
        seconds, peak = ran.stdout.split()[-2:]
        return float(seconds), float(peak)


def measure(n: int, reps: int, timeout: float) -> list[Row]:
    """The PostgreSQL export rows, over `reps` interleaved runs of each renderer. Run from a thread: it blocks."""
    server = PostgresServer()
    server.start()
    try:
        fill(server, n)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in RENDERERS}
        for _ in range(reps):
            for name in RENDERERS:
                for _ in range(CSV_RUNS if name.endswith("-csv") else 1):
                    runs[name].append(one_run(name, server.url(), n, timeout))
        tenth = {name: one_run(name, server.url(), n // 10, timeout)[1] for name in CONVEYORS}
    finally:
        server.stop()
    secs = {name: Spread([s for s, _ in r]) for name, r in runs.items()}
    rss = {name: Spread([m for _, m in r]) for name, r in runs.items()}
    growth = {name: max(rss[name].values) - tenth[name] for name in CONVEYORS}
    return [
        Row(f"{n:,}-row PostgreSQL export, CSV", "s", secs["conveyor-csv"], secs["copy-csv"],
            "psycopg COPY to a file", "≤ 1.2x", lambda r: (r.ratio or 99) <= 1.2),
        Row(f"{n:,}-row PostgreSQL export, XLSX", "s", secs["conveyor-xlsx"], secs["raw-xlsx"],
            "XlsxWriter over a psycopg server-side cursor", "≤ 1.2x", lambda r: (r.ratio or 99) <= 1.2),
        Row(f"{n:,}-row PostgreSQL export, peak RSS", "MB",
            Spread(rss["conveyor-csv"].values + rss["conveyor-xlsx"].values),
            Spread(rss["copy-csv"].values + rss["raw-xlsx"].values),
            "the raw renderers", "≤ 150 MB", lambda r: max(r.conveyor.values) <= 150),
        Row(f"PostgreSQL export, peak RSS from {n // 10:,} to {n:,} rows", "MB",
            Spread([max(rss[name].values) for name in CONVEYORS]), Spread([tenth[name] for name in CONVEYORS]),
            f"the same at {n // 10:,} rows", "grows ≤ 10 MB", lambda r: max(growth.values()) <= 10,
            note=", ".join(f"{name} {growth[name]:+.1f} MB" for name in CONVEYORS)),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--upto", type=int, help="(child) render rows 1 to UPTO")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=RENDERERS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        seconds = child(args.child, os.environ[URL_VARIABLE], args.out, args.upto)
        print(seconds, rss_mb(os.getpid())[1])  # read by the parent
        return
    for row in measure(args.rows, args.runs, 900):
        base = row.baseline.show(row.unit) if row.baseline else "-"
        print(f"{row.case}: {row.conveyor.show(row.unit)} vs {base} ({row.baseline_name})")


if __name__ == "__main__":
    main()
