"""Streaming XLSX tables with XlsxWriter in constant-memory mode.

Constant-memory mode flushes each row to a temporary file once the next begins, so a million-row report costs
the same memory as a hundred-row one; its price is that rows must arrive in order and strings are stored
inline (no shared-string table), which suits a report. Column widths come from the header and the first
chunk of rows, set before they are written. Cells are written by the Python type of each value, never by
guessing from text: a string that looks like a formula (`=HYPERLINK(...)`) or a URL stays a string, so a
report of user data cannot plant formulas in its readers' spreadsheets.

Excel holds at most 1,048,576 rows a sheet: past it the table goes on in a continuation sheet (`Report (2)`,
...) that repeats the header, so no row is lost and each sheet opens in Excel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

EXCEL_MAX_ROWS = 1_048_576
"""Rows in one Excel sheet, the header row included."""
EXACT_INT = 10**15
"""Excel keeps 15 significant digits: larger integers (ids, cents of big sums) are written as text, unaltered."""
FIRST_EXCEL_YEAR = 1900
"""Excel's calendar starts on 1 January of this year: earlier dates are written as ISO text rather than as
a number Excel shows as ###."""
MIN_WIDTH, MAX_WIDTH = 6, 60
"""Column widths, in characters: wide enough for a short header, never wider than a screenful."""
FORMATS = {
    "header": {"bold": True},
    "int": {"num_format": "0"},
    "date": {"num_format": "yyyy-mm-dd"},
    "datetime": {"num_format": "yyyy-mm-dd hh:mm:ss"},
    "time": {"num_format": "hh:mm:ss"},
}
"""The cell formats by kind of value; floats and decimals keep Excel's General, which shows what they hold."""
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


class XlsxTable:
    """An XLSX workbook of one table: `add` chunks of rows as they come, then `close`.

    The header row is bold, frozen and carries an autofilter over the sheet's rows. `max_rows` (header included)
    is Excel's limit; tests lower it to cross into a continuation sheet with few rows.
    """

    def __init__(self, path: Path, title: str, columns: Sequence[str], *, max_rows: int = EXCEL_MAX_ROWS) -> None:
        if max_rows < 2:
            raise ValueError("a sheet needs room for its header and a row")
        self.columns = [str(c) for c in columns]
        self.max_rows = max_rows
        self.name = SHEET_NAME_FORBIDDEN.sub(" ", title).strip("' ")[:25] or "Report"
        self.book = Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "nan_inf_to_errors": True,
            },
        )
        self.formats = {kind: self.book.add_format(props) for kind, props in FORMATS.items()}
        self.widths: list[int] | None = None
        self.sheets = 0
        self.sheet: Worksheet | None = None
        self.row = 0

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Write `rows`, opening a continuation sheet whenever one is full."""
        if self.widths is None:
            self.widths = column_widths(self.columns, rows)
        formats, start = self.formats, 0
        while start < len(rows):
            if self.sheet is None or self.row == self.max_rows:
                self._next_sheet()
            sheet, row = self.sheet, self.row
            assert sheet is not None
            batch = rows[start : start + self.max_rows - row]
            for values in batch:  # the hot loop of a large report: one dict look-up and one call per cell
                for column, value in enumerate(values):
                    (WRITERS.get(value.__class__) or _writer_of(value))(sheet, row, column, value, formats)
                row += 1
            self.row, start = row, start + len(batch)

    def _next_sheet(self) -> None:
        self._finish_sheet()
        self.sheets += 1
        sheet = self.book.add_worksheet(self.name if self.sheets == 1 else f"{self.name} ({self.sheets})")
        for column, width in enumerate(self.widths or column_widths(self.columns, [])):
            sheet.set_column(column, column, width)
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, self.columns, self.formats["header"])
        self.sheet, self.row = sheet, 1

    def _finish_sheet(self) -> None:
        if self.sheet is not None and self.columns:
            self.sheet.autofilter(0, 0, max(1, self.row - 1), len(self.columns) - 1)

    def close(self) -> None:
        """Finish the last sheet (a table with no rows still gets its header) and write the file."""
        if self.sheet is None:
            self._next_sheet()
        self._finish_sheet()
        self.book.close()


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> list[int]:
    """Each column's width, in characters: its widest shown value among the header and `rows`, within bounds."""
    widths = [len(c) + 2 for c in columns]  # + the autofilter's drop-down button
    for row in rows:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], len(shown(value)))
    return [min(MAX_WIDTH, max(MIN_WIDTH, w + 1)) for w in widths]


def shown(value: object) -> str:
    """How a value reads in its cell, for sizing columns: dates in the formats their writers give them."""
    if isinstance(value, datetime):
        return "2000-01-01 00:00:00"
    if isinstance(value, date | time):
        return "2000-01-01" if isinstance(value, date) else "00:00:00"
    return "" if value is None else str(value)


def _writer_of(value: object) -> Writer:
    """The writer of a value whose type has none of its own: its base's (an `IntEnum` is written as an `int`), or
    text. Numbers as numbers, dates and times with their format, booleans as booleans, None as an empty cell, and
    everything else as text (never a formula or a link, whatever it looks like)."""
    return next((w for t, w in WRITERS.items() if isinstance(value, t)), _text)


# The writers call XlsxWriter's undecorated `_write_*` methods, which its public `write_*` wrap to accept "A1"
# cell names: that wrapper cost a sixth of a large export's time (profiled), and cells here are always numbered.


def _text(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    sheet._write_string(row, column, str(value))  # XlsxWriter cuts text at Excel's 32,767 characters a cell


def _int(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    if -EXACT_INT < value < EXACT_INT:
        sheet._write_number(row, column, value, formats["int"])
    else:
        sheet._write_string(row, column, str(value))


def _float(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    sheet._write_number(row, column, float(value))


def _bool(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    sheet._write_boolean(row, column, value)


def _blank(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    """Nothing to write: in constant-memory mode an absent cell is an empty one."""


def _datetime(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    if value.tzinfo is not None:  # Excel has no time zones: aware values are shown in UTC
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value.year < FIRST_EXCEL_YEAR:
        sheet._write_string(row, column, value.isoformat(sep=" "))
    else:
        sheet._write_datetime(row, column, value, formats["datetime"])


def _date(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    if value.year < FIRST_EXCEL_YEAR:
        sheet._write_string(row, column, value.isoformat())
    else:
        sheet._write_datetime(row, column, value, formats["date"])


def _time(sheet: Worksheet, row: int, column: int, value: Any, formats: dict[str, Format]) -> None:
    sheet._write_datetime(row, column, value.replace(tzinfo=None), formats["time"])


Writer = Callable[[Worksheet, int, int, Any, dict[str, Format]], None]
WRITERS: dict[type, Writer] = {
    str: _text,
    bool: _bool,  # before int: a bool is an int
    int: _int,
    float: _float,
    Decimal: _float,
    datetime: _datetime,  # before date: a datetime is a date
    date: _date,
    time: _time,
    type(None): _blank,
}
"""How each type of value is written; subclasses (an `IntEnum`, a `numpy` scalar registered as float) find their
base by `isinstance`, in this order."""
