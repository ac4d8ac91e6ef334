"""XLSX reports read back with openpyxl, an independent reader: header, freeze, filter, widths, cell types and
formats, the continuation sheet past the row limit, and a job rendered to XLSX end to end on the dev server."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

import tests.held_report  # noqa: F401  (registers the `held-rows` report in this process)
from activities.reports.xlsx import XlsxTable
from conveyor import Jobs, ReportJob, Settings

COLUMNS = ["id", "name", "amount", "ratio", "day", "at", "opens", "paid", "note"]
PARIS = timezone(timedelta(hours=1))


def typed_row(i: int) -> tuple[object, ...]:
    return (
        i,
        f"Customer number {i}",
        Decimal("12.50") + i,
        i / 4,
        date(2026, 1, 1) + timedelta(days=i),
        datetime(2026, 1, 1, 12, 30, tzinfo=PARIS) + timedelta(hours=i),
        time(9, i),
        i % 2 == 0,
        None,
    )


def render(path: Path, rows: list[tuple[object, ...]], *, max_rows: int, chunk: int = 3) -> None:
    table = XlsxTable(path, "Sales: by day?", COLUMNS, max_rows=max_rows)
    for start in range(0, len(rows), chunk):
        table.add(rows[start : start + chunk])
    table.close()


def test_xlsx_has_a_bold_frozen_filtered_header_and_typed_formatted_cells(tmp_path: Path) -> None:
    path = tmp_path / "typed.xlsx"
    render(path, [typed_row(i) for i in range(5)], max_rows=100)

    book = load_workbook(path)
    assert book.sheetnames == ["Sales  by day"], "characters Excel forbids in sheet names are replaced"
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header == COLUMNS and all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:I6"
    assert sheet.max_row == 6

    cells = sheet[3]
    assert [c.value for c in cells[:4]] == [1, "Customer number 1", 13.5, 0.25]
    assert cells[0].number_format == "0" and cells[2].number_format == "General"
    assert cells[4].value == datetime(2026, 1, 2) and cells[4].number_format == "yyyy-mm-dd"
    assert cells[5].value == datetime(2026, 1, 1, 12, 30), "13:30 at +01:00 is shown in UTC"
    assert cells[5].number_format == "yyyy-mm-dd hh:mm:ss"
    assert cells[6].value == time(9, 1) and cells[6].number_format == "hh:mm:ss"
    assert cells[7].value is False and sheet["H2"].value is True
    assert cells[8].value is None

    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABF"}
    assert widths["A"] < widths["B"] < widths["F"], "widths follow the header and the first rows"


def test_past_the_row_limit_the_table_goes_on_in_a_continuation_sheet_repeating_the_header(tmp_path: Path) -> None:
    path = tmp_path / "long.xlsx"
    render(path, [typed_row(i) for i in range(10)], max_rows=4)  # 3 rows a sheet under the header

    book = load_workbook(path)
    assert book.sheetnames == ["Sales  by day", "Sales  by day (2)", "Sales  by day (3)", "Sales  by day (4)"]
    ids = []
    for sheet in book.worksheets:
        assert [c.value for c in sheet[1]] == COLUMNS and sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:I{sheet.max_row}"
        ids += [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == list(range(10)), "every row once, in order"


def test_text_stays_text_and_what_excel_cannot_hold_is_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.xlsx"
    rows: list[tuple[object, ...]] = [
        ('=HYPERLINK("http://evil.example","x")', "https://example.com", "007", 2**60, date(1850, 5, 1)),
        ("tab\tand\x01control", "Zoë ✓", "", -(10**16), datetime(1899, 12, 31, 23, 59, tzinfo=UTC)),
    ]
    table = XlsxTable(path, "", ["a", "b", "c", "d", "e"])
    table.add(rows)
    table.close()

    sheet = load_workbook(path).active
    assert sheet.title == "Report"
    first = [c for c in sheet[2]]
    assert first[0].value == '=HYPERLINK("http://evil.example","x")' and first[0].data_type == "s"
    assert first[1].value == "https://example.com" and first[1].hyperlink is None
    assert first[2].value == "007", "text that looks like a number keeps its zeros"
    assert first[3].value == str(2**60), "integers past Excel's 15 digits are kept exactly, as text"
    assert first[4].value == "1850-05-01"
    # a control character is kept as OOXML's `_x0001_` escape (Excel shows the character; openpyxl the escape)
    assert [c.value for c in sheet[3]] == [
        "tab\tand_x0001_control",
        "Zoë ✓",
        "",
        str(-(10**16)),
        "1899-12-31 23:59:00",
    ]


def test_a_table_with_no_rows_is_a_header_only_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    XlsxTable(path, "Nothing", ["a", "b"]).close()
    sheet = load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["a", "b"] and sheet.max_row == 1


async def test_report_job_renders_to_xlsx(jobs: Jobs, settings: Settings, tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.touch()
    params = {"rows": "1200", "hold_at": "0", "release": str(release)}
    result = await (await jobs.report(ReportJob(report="held-rows", params=params, format="xlsx"))).result()

    assert result.filename == "held-rows.xlsx" and result.rows == 1200 and result.pages is None
    sheet = load_workbook(settings.reports_dir / result.key, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("n", "label") and len(rows) == 1201
    assert rows[1:] == [(i, f"row {i}") for i in range(1200)], "numbers stay numbers, every row in order"
