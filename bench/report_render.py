"""100,000-row PDF: the raw reportlab canvas (one `drawString` per cell) against Conveyor's `PdfTable`.

    python bench/report_render.py [--rows 100000] [--runs 3]

Each run is a fresh process, so its peak RSS (`wait4`) is the renderer's own. Prints seconds and peak RSS per
renderer (median and worst of the runs) and the ratio to the raw canvas. Targets: <= 1.2x the raw canvas time,
<= 150 MB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

COLUMNS = ["id", "customer", "email", "amount", "created"]
CHUNK = 500


def rows(n: int) -> Iterator[tuple[object, ...]]:
    """Synthetic rows of the shape a business report has."""
    for i in range(n):
        yield (i, f"Customer {i % 977}", f"user{i}@example.com", f"{(i * 37) % 10000 / 100:.2f}", "2026-01-01 12:00")


def raw_canvas(path: Path, n: int) -> None:
    """The baseline: plain canvas drawing, one drawString per cell, 50 rows a page, no header or numbering."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    c = Canvas(str(path), pagesize=landscape(A4))
    c.setFont("Helvetica", 8)
    y = 550.0
    for row in rows(n):
        for i, value in enumerate(row):
            c.drawString(36 + i * 150, y, str(value))
        y -= 11
        if y < 36:
            c.showPage()
            c.setFont("Helvetica", 8)
            y = 550.0
    c.save()


def conveyor(path: Path, n: int) -> None:
    """Conveyor's renderer, fed in chunks as the report activity feeds it."""
    from activities.reports.pdf import PdfTable

    table = PdfTable(path, "Benchmark", COLUMNS, ["rows: 100000", "generated: now"])
    source = rows(n)
    while chunk := list(islice(source, CHUNK)):
        table.add(chunk)
    table.close()


def one_run(renderer: str, n: int) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one render in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--child", renderer, "--rows", str(n), "--out", tmp])
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"{renderer} failed ({status})")
        return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        {"raw-canvas": raw_canvas, "conveyor": conveyor}[args.child](Path(args.out) / "out.pdf", args.rows)
        return
    results: dict[str, list[tuple[float, float]]] = {"raw-canvas": [], "conveyor": []}
    for _ in range(args.runs):
        for name in results:  # interleaved, so drift in machine load hits both alike
            results[name].append(one_run(name, args.rows))
    base = statistics.median(s for s, _ in results["raw-canvas"])
    print(f"{args.rows:,} rows, {args.runs} runs each (process start and imports included)")
    print(f"{'renderer':<12} {'median s':>9} {'worst s':>8} {'x raw':>6} {'peak RSS MB':>12}")
    for name, runs in results.items():
        secs = [s for s, _ in runs]
        rss = max(r for _, r in runs)
        median = statistics.median(secs)
        print(f"{name:<12} {median:>9.2f} {max(secs):>8.2f} {median / base:>6.2f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
