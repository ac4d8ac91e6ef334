"""The table writers a report renders into, one chunk of rows at a time: PDF (`activities.reports.pdf`), XLSX
(`activities.reports.xlsx`) or CSV.

All write to a local file as rows arrive, so a report is never held in memory; the file is uploaded to
storage once complete.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from contracts.report import ReportFormat


class TableWriter(Protocol):
    """Takes rows in chunks; `close` finishes the file and returns its page count (None: not paged)."""

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Write a chunk of rows."""
        ...

    def close(self) -> int | None:
        """Finish the file."""
        ...


class CsvTable:
    """A CSV file (stdlib writer, UTF-8, header first): streamed, ~1 s per 100,000 rows."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.file = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(columns)

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Append the rows."""
        self.writer.writerows(rows)

    def close(self) -> None:
        """Flush and close the file."""
        self.file.close()


def open_table(
    fmt: ReportFormat, path: Path, title: str, columns: Sequence[str], preamble: Sequence[str]
) -> TableWriter:
    """A writer of `fmt` into `path`. The PDF shows title and preamble (parameters, time); CSV and XLSX are data
    only (a header row, then the rows), so they load into other tools as they are."""
    if fmt is ReportFormat.PDF:
        from activities.reports.pdf import PdfTable  # reportlab loads only where PDFs are rendered

        return PdfTable(path, title, columns, preamble)
    if fmt is ReportFormat.XLSX:
        from activities.reports.xlsx import XlsxTable  # likewise XlsxWriter

        return XlsxTable(path, title, columns)
    return CsvTable(path, columns)
