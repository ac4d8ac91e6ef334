"""100,000-row PDF: the raw reportlab canvas (one `drawString` per cell) against Conveyor's `PdfTable`.

    python -m bench.report_render [--rows 100000] [--runs 3]    # alone; `python -m bench` runs it as a case

Each run is a fresh process that reports its own peak RSS (VmHWM, which starts afresh at exec: `wait4`'s
ru_maxrss would count what the child inherited from a large parent between fork and exec). Prints seconds and peak
RSS per renderer (median and worst of the runs) and the ratio to the raw canvas. Targets: <= 1.2x the raw canvas time,
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

from bench.figures import Row, Spread
from bench.proc import rss_mb

COLUMNS = ["id", "customer", "email", "amount", "created"]
CHUNK = 500
ROOT = Path(__file__).parent.parent


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


def one_run(renderer: str, n: int, timeout: float = 600) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one render in a child process, killed after `timeout` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        command = [sys.executable, "-m", "bench.report_render", "--child", renderer, "--rows", str(n), "--out", tmp]
        ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        if ran.returncode != 0:
            raise RuntimeError(f"{renderer} failed ({ran.returncode}): {ran.stderr[-500:]}")
        return seconds, float(ran.stdout.split()[-1])


def measure(n: int, reps: int, timeout: float) -> list[Row]:
    """The PDF rows: render time against the raw canvas, and the renderer's peak RSS, over `reps` interleaved
    runs (so drift in machine load hits both alike). Run from a thread: each run blocks until its child exits."""
    runs: dict[str, list[tuple[float, float]]] = {"raw-canvas": [], "conveyor": []}
    for _ in range(reps):
        for name in runs:
            runs[name].append(one_run(name, n, timeout))
    secs = {name: Spread([s for s, _ in r]) for name, r in runs.items()}
    rss = {name: Spread([m for _, m in r]) for name, r in runs.items()}
    return [
        Row(f"{n:,}-row PDF render", "s", secs["conveyor"], secs["raw-canvas"], "raw reportlab canvas", "≤ 1.2x",
            lambda r: (r.ratio or 99) <= 1.2),
        Row(f"{n:,}-row PDF peak RSS", "MB", rss["conveyor"], rss["raw-canvas"], "raw reportlab canvas",
            "≤ 150 MB", lambda r: max(r.conveyor.values) <= 150),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        {"raw-canvas": raw_canvas, "conveyor": conveyor}[args.child](Path(args.out) / "out.pdf", args.rows)
        print(rss_mb(os.getpid())[1])  # the peak, read by the parent
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
