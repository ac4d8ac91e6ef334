"""Tables people can copy: ids and headers are never cut, and a pipe gets whole cells.

Rich folds or cuts cells to fit the terminal, and on a pipe it assumes 80 columns, so `conveyor failed | grep ID`
would find nothing and an id could not be pasted into `conveyor retry`. On a terminal the table keeps the id
column and every header whole (other cells fold); anywhere else it is plain text, one record per line, columns
padded to their widest cell, never cut (also on a terminal too narrow for every header).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from conveyor.cli.app import out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> RenderableType:
    """`rows` under `headers`: a Rich table on a terminal wide enough for every header and the whole first column,
    plain aligned lines elsewhere (`stats --watch` redraws this; a terminal narrower than the lines wraps them
    between cells, never inside one)."""
    # The first column is the id (or kind) people copy: as wide as its widest cell, so the others give way.
    min_widths = [max([len(headers[0]), *(len(row[0]) for row in rows)]), *(len(h) for h in headers[1:])]
    if out.is_terminal and sum(min_widths) + 3 * len(headers) + 1 <= out.width:
        shown = Table(title=title)
        for i, (header, width) in enumerate(zip(headers, min_widths, strict=True)):
            shown.add_column(header, no_wrap=i == 0, min_width=width, overflow="fold")
        for row in rows:
            shown.add_row(*row)
        return shown
    # Wrapped even on a console that soft-wraps (`out` does), where Live would crop a line at the screen's edge.
    return Text("\n".join([*([title] if title else []), *plain_lines(headers, rows)]), no_wrap=False, overflow="fold")


def show_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print `rows` under `headers` as `table` lays them out; plain lines go to stdout as they are, never folded
    at the 80 columns Rich assumes for a pipe."""
    shown = table(headers, rows)
    if isinstance(shown, Text):
        print(shown.plain)
    else:
        out.print(shown)


def plain_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """`headers` and `rows` as lines of text, each column padded to its widest cell, two spaces apart."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]
