"""SQL report sources on the dev server with a real SQLite file: typed rows to CSV and XLSX (read back with
openpyxl), parameters refused at the edge, the read-only transaction, the time-out, and the URL kept secret."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from temporalio.testing import WorkflowEnvironment

import tests.sql_reports  # noqa: F401  (registers the shop-* reports in this process)
from conveyor import InvalidJobError, JobFailed, Jobs, ReportJob, Settings
from conveyor.dev.example_db import ensure_example_database
from tests.cli import conveyor
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer
from worker.build import build_workers
from worker.run import running

ORDERS = 1200
PASSWORD = "hunter2-db-secret"


def shop_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, placed_on TEXT, paid_at TEXT, total REAL)"
        )
        db.executemany("INSERT INTO customers (name) VALUES (?)", [("Ada",), ("Grace",)])
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
            [(i, f"c{i % 9}", f"2026-03-{i % 28 + 1:02d}", f"2026-03-{i % 28 + 1:02d} 10:{i % 60:02d}:00", i * 1.5)
             for i in range(1, ORDERS + 1)],
        )  # fmt: skip
    db.close()
    return path


@pytest.fixture
async def sql(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[tuple[Jobs, Settings]]:
    """Jobs with a worker whose `shop` database is a fresh SQLite file, and whose `broken` URL holds a password."""
    shop = shop_database(tmp_path / "shop.sqlite")
    databases = {"shop": f"sqlite:///{shop}", "broken": f"nosuchdb://reader:{PASSWORD}@db.internal/shop"}
    settings = settings_for(temporal_env, smtp_server, tmp_path, databases=databases, home=tmp_path / "home")
    ensure_example_database(settings.example_database)
    async with running(build_workers(temporal_env.client, settings)):
        yield Jobs(temporal_env.client, settings), settings


async def test_sql_report_streams_typed_rows_to_csv_and_xlsx(sql: tuple[Jobs, Settings]) -> None:
    jobs, settings = sql
    as_csv = await (
        await jobs.report(ReportJob(report="shop-orders", params={"min_total": "3"}, format="csv"))
    ).result()
    rows = list(csv.reader(io.StringIO((settings.reports_dir / as_csv.key).read_text(encoding="utf-8"))))
    assert rows[0] == ["id", "customer", "placed_on", "paid_at", "total"]
    assert (
        rows[1] == ["2", "c2", "2026-03-03", "2026-03-03 10:02:00", "3.0"]
        and len(rows) - 1 == as_csv.rows == ORDERS - 1
    )

    as_xlsx = await (
        await jobs.report(ReportJob(report="shop-orders", params={"min_total": "3"}, format="xlsx"))
    ).result()
    sheet = openpyxl.load_workbook(settings.reports_dir / as_xlsx.key, read_only=True).worksheets[0]
    cells = list(sheet.iter_rows())
    assert [c.value for c in cells[0]] == ["id", "customer", "placed_on", "paid_at", "total"]
    first = cells[1]
    assert [c.value for c in first] == [2, "c2", datetime(2026, 3, 3), datetime(2026, 3, 3, 10, 2), 3.0]
    assert first[2].number_format == "yyyy-mm-dd" and first[3].number_format == "yyyy-mm-dd hh:mm:ss"
    assert len(cells) - 1 == as_xlsx.rows == ORDERS - 1


async def test_declared_table_exports_every_row(sql: tuple[Jobs, Settings]) -> None:
    jobs, settings = sql
    result = await (await jobs.report(ReportJob(report="shop-customers", format="csv"))).result()
    assert (settings.reports_dir / result.key).read_text(encoding="utf-8").splitlines() == [
        "id,name",
        "1,Ada",
        "2,Grace",
    ]


async def test_example_sales_by_day_covers_the_days_asked(sql: tuple[Jobs, Settings]) -> None:
    jobs, settings = sql
    job = ReportJob(report="sales-by-day", params={"since": "2026-01-01", "until": "2026-01-07"}, format="csv")
    result = await (await jobs.report(job)).result()
    rows = list(csv.reader(io.StringIO((settings.reports_dir / result.key).read_text(encoding="utf-8"))))
    assert rows[0] == ["day", "orders", "units", "revenue"]
    assert [r[0] for r in rows[1:]] == [date(2026, 1, d).isoformat() for d in range(1, 8)]
    assert all(int(r[1]) > 0 for r in rows[1:])


async def test_bad_parameter_is_refused_before_enqueueing(sql: tuple[Jobs, Settings]) -> None:
    jobs, settings = sql
    with pytest.raises(InvalidJobError, match=r"report 'shop-orders': params.min_total: Input should be greater"):
        await jobs.report({"report": "shop-orders", "params": {"min_total": "-1"}})
    with pytest.raises(InvalidJobError, match="until is before since"):
        await jobs.report({"report": "sales-by-day", "params": {"since": "2026-02-01", "until": "2026-01-01"}})
    ran = await conveyor(settings, "send", "report", "--report", "sales-by-day", "--param", "since=soon", "--param",
                         "until=2026-01-02")  # fmt: skip
    assert ran.code == 2 and "report 'sales-by-day': params.since: Input should be a valid date" in ran.err


async def test_write_through_the_read_only_transaction_fails_for_good(
    sql: tuple[Jobs, Settings], tmp_path: Path
) -> None:
    jobs, _ = sql
    handle = await jobs.report(ReportJob(report="shop-sneaky-write", format="csv"))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "ReportSourceError" and "readonly" in failed.value.message
    assert (await jobs.status(handle.id)).attempts == 1
    with sqlite3.connect(tmp_path / "shop.sqlite") as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone() == (2,), "nothing was written"
    db.close()


async def test_query_timing_out_twice_fails_typed(sql: tuple[Jobs, Settings]) -> None:
    jobs, _ = sql
    handle = await jobs.report(ReportJob(report="shop-slow", format="csv"))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "QueryTimedOut"
    assert (await jobs.status(handle.id)).attempts == 2, "a first time-out is retried, a second is final"


async def test_database_password_appears_in_no_status_error_history_or_log(
    sql: tuple[Jobs, Settings], temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    jobs, _ = sql
    handle = await jobs.report(ReportJob(report="shop-elsewhere", format="csv"))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "ReportSourceError"
    assert "'nosuchdb' databases are not supported (use sqlite or postgresql)" in failed.value.message
    status = await jobs.status(handle.id)
    history = await temporal_env.client.get_workflow_handle(handle.id).fetch_history()
    for text in (str(failed.value), status.model_dump_json(), history.to_json(), caplog.text):
        assert PASSWORD not in text
