"""SQL report sources on a real PostgreSQL (the session's cluster, `tests.postgres`): 200,000 rows streamed
through a server-side cursor to a CSV equal to `COPY`'s, to typed XLSX cells and to a PDF, a connection terminated
mid-stream and a time-out behind a lock both retried to one complete file, the query's own errors failing for good,
the read-only transaction refusing writes, and the role's password in no failure, status, history or log."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import psycopg
import pypdf
import pytest
from temporalio.testing import WorkflowEnvironment

import tests.pg_reports  # noqa: F401  (registers the pg-* reports in this process)
from contracts.states import JobState
from conveyor import JobFailed, Jobs, ReportJob, Settings
from tests.conftest import settings_for
from tests.pg_reports import EVENTS, EVENTS_QUERY, HOLD_LOCK, SCHEMA
from tests.postgres import READER_PASSWORD, PostgresServer
from tests.smtp_server import SmtpServer
from tests.snippets import ROOT, block
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running

REPORT_PAGE = ROOT / "docs" / "jobs" / "report.md"


@pytest.fixture(scope="module")
def pg(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """The session's PostgreSQL with this module's tables."""
    with postgres.admin() as db:
        db.execute("DROP TABLE IF EXISTS events, ledger; DROP FUNCTION IF EXISTS add_mallory")
        db.execute(SCHEMA)
    yield postgres


@pytest.fixture
async def pg_jobs(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, pg: PostgresServer
) -> AsyncIterator[tuple[Jobs, Settings]]:
    """Jobs with a worker whose `pg` database is the test cluster, read as the `reader` role with its password."""
    settings = settings_for(temporal_env, smtp_server, tmp_path, databases={"pg": pg.url()})
    async with running(build_workers(temporal_env.client, settings)):
        yield Jobs(temporal_env.client, settings), settings


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def copied(pg: PostgresServer, query: str) -> bytes:
    """What `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)` writes, read as the administrator."""
    with pg.admin() as db, db.cursor().copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        return b"".join(bytes(block) for block in copy)


async def test_large_csv_report_is_postgres_own_copy_output(pg_jobs: tuple[Jobs, Settings], pg: PostgresServer) -> None:
    jobs, settings = pg_jobs
    result = await (
        await jobs.report(ReportJob(report="pg-events", params={"upto": str(EVENTS)}, format="csv"))
    ).result()
    query = EVENTS_QUERY.replace(":upto", str(EVENTS))
    assert result.rows == EVENTS
    assert (settings.reports_dir / result.key).read_bytes() == copied(pg, query)
    # The server wrote the CSV: one COPY of the query, its parameter bound as a typed literal, and no cursor.
    bound = query.replace(f"<= {EVENTS}", f"<= {EVENTS}::INTEGER")
    assert f"COPY ({bound}) TO STDOUT WITH (FORMAT csv)" in pg.statements()


@pytest.mark.parametrize(
    ("label", "ids"), [('event "7", ok', [7]), ("x' OR ''='", []), ("x'); SELECT add_mallory(); --", [])]
)
async def test_report_parameters_are_bound_as_literals_into_copy(
    pg_jobs: tuple[Jobs, Settings], pg: PostgresServer, label: str, ids: list[int]
) -> None:
    jobs, settings = pg_jobs
    result = await (await jobs.report(ReportJob(report="pg-labelled", params={"label": label}, format="csv"))).result()
    rows = read_csv(settings.reports_dir / result.key)
    assert rows[0] == ["id", "label"] and [int(r[0]) for r in rows[1:]] == ids and result.rows == len(ids)
    with pg.admin() as db:
        assert db.execute("SELECT label FROM ledger").fetchall() == [("opening",)], "nothing was written"


async def test_core_select_with_an_in_list_is_copied(pg_jobs: tuple[Jobs, Settings]) -> None:
    jobs, settings = pg_jobs
    result = await (await jobs.report(ReportJob(report="pg-some-events", format="csv"))).result()
    rows = read_csv(settings.reports_dir / result.key)
    assert rows == [["id", "label"], ["2", 'event "2", ok'], ["3", 'event "3", ok'], ["5", 'event "5", ok']]


async def test_csv_from_postgres_has_postgres_text_forms(pg_jobs: tuple[Jobs, Settings], pg: PostgresServer) -> None:
    jobs, settings = pg_jobs
    result = await (await jobs.report(ReportJob(report="pg-kinds", format="csv"))).result()
    # Booleans t/f, times with time zone in UTC, the shortest float, NULL empty but '' quoted, numeric's digits.
    text = (settings.reports_dir / result.key).read_text(encoding="utf-8")
    assert text == 'flag,at,ratio,missing,empty,lines,amount\nt,2026-03-01 09:30:00.5+00,1,,"","a\nb",12.50\n'
    assert result.rows == 1


async def test_postgres_types_become_typed_xlsx_cells_read_a_page_at_a_time(
    pg_jobs: tuple[Jobs, Settings], pg: PostgresServer
) -> None:
    jobs, settings = pg_jobs
    before = len(pg.statements())
    result = await (
        await jobs.report(ReportJob(report="pg-events", params={"upto": str(EVENTS)}, format="xlsx"))
    ).result()
    rows = list(openpyxl.load_workbook(settings.reports_dir / result.key, read_only=True).worksheets[0].iter_rows())
    assert [c.value for c in rows[0]] == ["id", "day", "at", "amount", "label"] and len(rows) - 1 == EVENTS
    first = rows[1]
    assert [c.value for c in first] == [1, datetime(2026, 1, 2), datetime(2026, 1, 1, 0, 1), 0.01, 'event "1", ok']
    assert [c.number_format for c in first[:3]] == ["0", "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"]
    assert rows[-1][0].value == EVENTS
    # Read through a server-side cursor 500 rows at a time: what the worker holds does not grow with the result.
    fetches = [s for s in pg.statements()[before:] if s.startswith("FETCH FORWARD")]
    assert len(fetches) >= EVENTS // 500 and max(int(s.split()[2]) for s in fetches) == 500


async def test_pdf_from_postgres_has_every_row(pg_jobs: tuple[Jobs, Settings]) -> None:
    jobs, settings = pg_jobs
    result = await (
        await jobs.report(ReportJob(report="pg-events", params={"upto": str(EVENTS)}, format="pdf"))
    ).result()
    reader = pypdf.PdfReader(settings.reports_dir / result.key)
    assert result.rows == EVENTS and result.pages == len(reader.pages) > 1
    first, last = reader.pages[0].extract_text(), reader.pages[-1].extract_text()  # every page would take minutes
    assert 'event "1", ok' in first and f'event "{EVENTS}", ok' in last


def report_backends(db: psycopg.Connection, waiting: bool = False) -> list[tuple[int]]:
    """The server processes of renders' connections (those waiting on the `pg-held` lock, if `waiting`)."""
    sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    return db.execute(sql + (" AND wait_event = 'advisory'" if waiting else ""), ["conveyor-report"]).fetchall()


async def test_cancelled_job_stops_its_statement_on_the_server(
    pg_jobs: tuple[Jobs, Settings], pg: PostgresServer
) -> None:
    jobs, _ = pg_jobs
    with pg.admin() as db:
        db.execute("SELECT pg_advisory_lock(%s)", [HOLD_LOCK])
        try:
            handle = await jobs.report(ReportJob(report="pg-held", params={"upto": "5000"}, format="csv"))
            await eventually(lambda: asyncio.to_thread(report_backends, db, True), lambda pids: len(pids) == 1)
            await jobs.cancel(handle.id)
            # The FETCH waiting on the lock is cancelled and the connection closed, though the lock is still held.
            await eventually(lambda: asyncio.to_thread(report_backends, db), lambda pids: pids == [])
        finally:
            db.execute("SELECT pg_advisory_unlock(%s)", [HOLD_LOCK])
    assert (await jobs.status(handle.id)).state == JobState.CANCELLED


async def test_connection_terminated_mid_stream_is_retried_to_one_complete_file(
    pg_jobs: tuple[Jobs, Settings],
    pg: PostgresServer,
    temporal_env: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs, settings = pg_jobs
    with pg.admin() as db:
        db.execute("SELECT pg_advisory_lock(%s)", [HOLD_LOCK])  # the read stops at row 1,000, its FETCH waiting
        handle = await jobs.report(ReportJob(report="pg-held", params={"upto": "5000"}, format="csv"))
        [(pid,)] = await eventually(lambda: asyncio.to_thread(report_backends, db, True), lambda p: len(p) == 1)
        # The COPY's rows so far show as progress, a page (500) at a time: 999 rows came before the held one.
        held = await eventually(lambda: jobs.status(handle.id), lambda s: bool(s.reported and s.reported.done))
        assert held.reported is not None and held.reported.done == 500
        db.execute("SELECT pg_terminate_backend(%s)", [pid])
        retrying = await eventually(lambda: jobs.status(handle.id), lambda s: s.failure is not None)
        db.execute("SELECT pg_advisory_unlock(%s)", [HOLD_LOCK])
    assert retrying.state == JobState.RETRYING and retrying.failure is not None
    assert retrying.failure.type == "DatabaseUnavailable" and "administrator command" in retrying.failure.message

    result = await handle.result()
    rows = read_csv(settings.reports_dir / result.key)
    assert result.rows == 5000 and [int(r[0]) for r in rows[1:]] == list(range(1, 5001))
    assert [p.name for p in (settings.reports_dir / handle.id).iterdir()] == ["pg-held.csv"]
    assert (await jobs.status(handle.id)).attempts == 2
    history = await temporal_env.client.get_workflow_handle(handle.id).fetch_history()
    for text in (retrying.model_dump_json(), history.to_json(), caplog.text):
        assert READER_PASSWORD not in text


async def test_time_out_behind_a_lock_is_retried_and_completes(
    pg_jobs: tuple[Jobs, Settings], pg: PostgresServer
) -> None:
    jobs, settings = pg_jobs
    # A migration holding the table: the report's read waits on the lock past its 1 s time-out, once.
    with pg.admin() as db, db.transaction():
        db.execute("LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE")
        handle = await jobs.report(ReportJob(report="pg-ledger", format="csv"))
        retrying = await eventually(lambda: jobs.status(handle.id), lambda s: s.failure is not None)
    assert retrying.failure is not None and retrying.failure.type == "QueryTimedOut"
    result = await handle.result()
    assert read_csv(settings.reports_dir / result.key) == [["id", "label"], ["1", "opening"]]
    assert (await jobs.status(handle.id)).attempts == 2


@pytest.mark.parametrize(
    ("report", "says"),
    [
        ("pg-missing-table", 'relation "invoices" does not exist'),
        ("pg-bad-sql", 'syntax error at or near "SELEC"'),
        ("pg-sneaky-write", "cannot execute INSERT in a read-only transaction"),
    ],
)
async def test_the_querys_own_errors_fail_at_once(
    pg_jobs: tuple[Jobs, Settings], pg: PostgresServer, report: str, says: str
) -> None:
    jobs, _ = pg_jobs
    handle = await jobs.report(ReportJob(report=report, format="csv"))
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    assert failed.value.type == "ReportSourceError" and says in failed.value.message
    assert (await jobs.status(handle.id)).attempts == 1
    with pg.admin() as db:
        assert db.execute("SELECT label FROM ledger").fetchall() == [("opening",)], "nothing was written"


async def test_wrong_password_fails_without_quoting_it(
    temporal_env: WorkflowEnvironment,
    smtp_server: SmtpServer,
    tmp_path: Path,
    pg: PostgresServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-Password-9"
    settings = settings_for(temporal_env, smtp_server, tmp_path, databases={"pg": pg.url(wrong)})
    async with running(build_workers(temporal_env.client, settings)):
        handle = await Jobs(temporal_env.client, settings).report(ReportJob(report="pg-ledger", format="csv"))
        with pytest.raises(JobFailed) as failed:
            await handle.result()
    assert failed.value.type == "ReportSourceError" and "password authentication failed" in failed.value.message
    history = await temporal_env.client.get_workflow_handle(handle.id).fetch_history()
    for text in (str(failed.value), history.to_json(), caplog.text):
        assert wrong not in text


def test_the_docs_read_only_role_reads_and_cannot_write(pg: PostgresServer) -> None:
    sql = block(REPORT_PAGE, "CREATE ROLE conveyor_reports")
    with pg.admin() as db:
        db.execute("DROP DATABASE IF EXISTS shop")
        db.execute("CREATE DATABASE shop")
    with pg.admin(dbname="shop") as db:
        db.execute("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)")
        db.execute(sql)
    try:
        with psycopg.connect(
            host="127.0.0.1", port=pg.port, dbname="shop", user="conveyor_reports", password="change-me"
        ) as reader:
            assert reader.execute("SELECT id FROM orders").fetchall() == [(1,)]
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                reader.execute("CREATE TABLE leak (id int)")
    finally:
        with pg.admin(dbname="shop") as db:
            db.execute("DROP OWNED BY conveyor_reports; DROP ROLE conveyor_reports")
