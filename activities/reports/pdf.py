"""Streaming PDF tables drawn straight on a reportlab canvas.

Why not platypus: one `Table` of 100,000 rows took > 300 s here (its layout is quadratic) and chunked tables
48 s / 394 MB; drawing on the canvas with one text object per page is linear. Every page repeats the title and
the column header and ends with "page N of M": M is a form XObject referenced by every page and drawn once at
the end, so numbering needs neither a second pass nor pages kept around. (The form is placed without a
transformation: pypdf's text extraction drops text next to a translated form.) Pages are compressed as they are
finished, so memory grows by a few KB per page, not by the page's content.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

FONT, BOLD = "Helvetica", "Helvetica-Bold"
SIZE, LEADING, MARGIN = 8.0, 11.0, 36.0
AVERAGE_CHAR = 0.55 * SIZE
"""Helvetica's average glyph width: cells are cut by length, not measured, which would cost a call per cell."""
TOTAL_FORM = "conveyor-page-total"


class PdfTable:
    """A PDF of one table: `add` chunks of rows as they come, then `close`. Returns the page count."""

    def __init__(self, path: Path, title: str, columns: Sequence[str], preamble: Sequence[str]) -> None:
        self.title = title
        self.columns = [str(c) for c in columns]
        self.canvas = Canvas(str(path), pagesize=landscape(A4), pageCompression=1, invariant=1)
        self.canvas.setTitle(title)
        self.width, self.height = landscape(A4)
        column_width = (self.width - 2 * MARGIN) / max(1, len(self.columns))
        self.x = [MARGIN + i * column_width for i in range(len(self.columns))]
        self.max_chars = max(1, int((column_width - 4) / AVERAGE_CHAR))
        self.total_x = self.width - MARGIN - stringWidth("0000000", FONT, SIZE)
        self.pages = 0
        self.y = 0.0
        self.text = self.canvas.beginText()
        self._start_page(preamble)

    def _start_page(self, preamble: Sequence[str] = ()) -> None:
        self.pages += 1
        c = self.canvas
        top = self.height - MARGIN
        c.setFont(BOLD, 12)
        c.drawString(MARGIN, top, self.title)
        c.setFont(FONT, SIZE)
        for i, line in enumerate(preamble, start=1):
            c.drawString(MARGIN, top - 4 - i * LEADING, line)
        y = top - 8 - (len(preamble) + 1) * LEADING
        c.setFont(BOLD, SIZE)
        for x, name in zip(self.x, self.columns, strict=True):
            c.drawString(x, y, self._cell(name))
        c.line(MARGIN, y - 3, self.width - MARGIN, y - 3)
        c.setFont(FONT, SIZE)
        c.drawRightString(self.total_x, MARGIN / 2, f"page {self.pages} of ")
        c.doForm(TOTAL_FORM)  # the total, drawn once at the end, right of the fixed point `total_x`
        self.y = y - LEADING - 2
        self.text = c.beginText()
        self.text.setFont(FONT, SIZE)

    def _cell(self, value: object) -> str:
        text = "" if value is None else str(value)
        if len(text) > self.max_chars:
            return text[: self.max_chars - 1] + "…"
        return text.replace("\n", " ")

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Draw `rows`, starting new pages as they fill."""
        text, x, cell = self.text, self.x, self._cell
        for row in rows:
            if self.y < MARGIN:
                self._finish_page()
                self._start_page()
                text = self.text
            y = self.y
            for column, value in zip(x, row, strict=False):
                text.setTextOrigin(column, y)
                text.textOut(cell(value))
            self.y = y - LEADING

    def _finish_page(self) -> None:
        self.canvas.drawText(self.text)
        self.canvas.showPage()

    def close(self) -> int:
        """Finish the last page, draw the page total every page refers to, write the file."""
        self._finish_page()
        c = self.canvas
        c.beginForm(TOTAL_FORM)
        c.setFont(FONT, SIZE)
        c.drawString(self.total_x, MARGIN / 2, str(self.pages))
        c.endForm()
        c.save()
        return self.pages
