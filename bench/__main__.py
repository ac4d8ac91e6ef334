"""`python -m bench`: every benchmark case in one run, one table, and `bench/results/latest.json`.

    python -m bench                 # full sizes, 3 repetitions: 10-20 minutes on a 2-core machine
    python -m bench --quick         # small sizes, 1 repetition, no verdicts: CI's smoke run, under a minute
    python -m bench --only jobs pdf # some cases
    python -m bench --only images --images 50 --out /tmp/images.json   # fewer photos; keep latest.json
    python -m bench --only tenants --flood 2000 --reps 1              # a smaller flood behind which B waits
    python -m bench crash           # worker, server, SMTP failures mid-run, Conveyor and Celery (bench/crash.py)

Only a full run of every case writes `bench/results/latest.json` (the docs' table); a `--quick` or `--only` run
writes `bench/results/partial.json` unless given `--out` elsewhere.

Every figure is a ratio to a baseline measured in the same run (machines here are shared and noisy), with the
median and min-max over the repetitions. Each case has its own time-out and stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import (
    broadcast,
    bulk,
    crash,
    dev_ready,
    django_backend,
    flow,
    images,
    imports,
    jobs,
    jobs_page,
    peer,
    pg_export,
    render_cost,
    report_render,
    tenants,
    webhooks,
)
from bench.figures import Row, Spread, table
from bench.proc import load_average

RESULTS = Path(__file__).parent / "results" / "latest.json"
"""The committed full run the docs' performance table is generated from: only a full run of every case writes it."""
PARTIAL_RESULTS = Path(__file__).parent / "results" / "partial.json"
"""Where a `--quick` or `--only` run writes by default (git-ignored): small sizes or some cases, no verdicts to
publish, so never in place of the full results."""


def results_path(out: Path | None, full: bool) -> Path:
    """Where a run writes its JSON: `out` if given, else the committed results for a full run and
    `PARTIAL_RESULTS` for any other. A partial run pointed at the committed results is refused (ValueError)."""
    if out is None:
        return RESULTS if full else PARTIAL_RESULTS
    if not full and out.resolve() == RESULTS.resolve():
        raise ValueError(f"a --quick or --only run must not replace the full results in {RESULTS}")
    return out


@dataclass(frozen=True)
class Sizes:
    """How big each case is, and how many times it runs."""

    jobs: int
    sequential: int
    recipients: int
    pdf_rows: int
    bulk: int
    images: int
    renders: int
    pg_rows: int
    flood: int
    reps: int


FULL = Sizes(
    jobs=1000,
    sequential=50,
    recipients=10_000,
    pdf_rows=100_000,
    bulk=10_000,
    images=200,
    renders=2000,
    pg_rows=1_000_000,
    flood=10_000,
    reps=3,
)
QUICK = Sizes(
    jobs=20,
    sequential=5,
    recipients=200,
    pdf_rows=2000,
    bulk=100,
    images=1,
    renders=100,
    pg_rows=2000,
    flood=200,
    reps=1,
)


LONG_CASES = {"pg": 4}
"""Cases given a multiple of the per-case time-out: a full run's PostgreSQL export renders a million rows twelve
times (XLSX takes minutes each on a loaded machine); each render keeps the plain time-out."""


def cases(sizes: Sizes, quick: bool, timeout: float) -> dict[str, Callable[[], Awaitable[list[Row]]]]:
    """Each case by name: a coroutine factory making its rows."""
    return {
        "jobs": lambda: jobs.measure(sizes.jobs, sizes.sequential, sizes.reps, not quick, timeout),
        "broadcast": lambda: broadcast.measure(sizes.recipients, sizes.reps, not quick, timeout),
        "pdf": lambda: asyncio.to_thread(report_render.measure, sizes.pdf_rows, sizes.reps, timeout),
        "bulk": lambda: bulk.measure(sizes.bulk, sizes.reps),
        "render": lambda: render_cost.measure(sizes.renders, sizes.reps),
        "dev": lambda: dev_ready.measure(sizes.reps, timeout),
        "imports": lambda: asyncio.to_thread(imports.measure, sizes.reps if quick else max(sizes.reps, 3)),
        "webhook": lambda: webhooks.measure(sizes.jobs, sizes.sequential, 200 if not quick else 20, sizes.reps),
        "images": lambda: images.measure(sizes.images, sizes.reps, timeout),
        "page": lambda: jobs_page.measure(sizes.bulk, sizes.reps),
        "pg": lambda: asyncio.to_thread(pg_export.measure, sizes.pg_rows, sizes.reps, timeout),
        "flow": lambda: flow.measure(max(sizes.jobs // 5, 10), sizes.reps),  # limited jobs are workflows: fewer
        "django": lambda: django_backend.measure(sizes.jobs, sizes.sequential, sizes.reps),
        "tenants": lambda: tenants.measure(sizes.flood, sizes.reps),
    }


async def run_case(name: str, make: Callable[[], Awaitable[list[Row]]], timeout: float) -> list[Row]:
    """One case's rows; on an error or time-out, one row saying so (the other cases still run)."""
    began = time.monotonic()
    try:
        rows = await asyncio.wait_for(make(), timeout)
    except Exception as e:  # a failed case is reported in the table, never hides the others
        reason = (str(e) or "timed out") if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
        print(f"case {name} failed: {reason}", file=sys.stderr)
        traceback.print_exc()  # where it failed, for whoever reads the log
        rows = [Row(name, "", Spread([]), target="ran", note=f"ERROR {reason}")]
    print(f"case {name}: {time.monotonic() - began:.0f} s", file=sys.stderr)
    return rows


async def run(names: list[str], sizes: Sizes, quick: bool, timeout: float) -> list[Row]:
    known = cases(sizes, quick, timeout)
    rows: list[Row] = []
    for name in names:
        rows += await run_case(name, known[name], timeout * LONG_CASES.get(name, 1))
    return rows


def main() -> None:
    if sys.argv[1:2] == ["crash"]:
        crash.main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition, no verdicts (CI)")
    parser.add_argument("--reps", type=int, help="repetitions per case (default 3; 1 with --quick)")
    parser.add_argument("--images", type=int, help="photos in the images case (default 200; 1 with --quick)")
    parser.add_argument(
        "--flood", type=int, help="tenant A's jobs in the tenants case (default 10,000; 200 with --quick)"
    )
    parser.add_argument("--only", nargs="+", choices=list(cases(FULL, False, 0)), help="run only these cases")
    parser.add_argument("--timeout", type=float, help="seconds per case (default 900; 120 with --quick)")
    parser.add_argument(
        "--out", type=Path, help=f"JSON results (default {RESULTS}; {PARTIAL_RESULTS} with --quick or --only)"
    )
    args = parser.parse_args()
    try:
        out = results_path(args.out, full=not (args.quick or args.only))
    except ValueError as e:
        parser.error(str(e))
    sizes = QUICK if args.quick else FULL
    if args.reps:
        sizes = Sizes(**(asdict(sizes) | {"reps": args.reps}))
    if args.images:
        sizes = Sizes(**(asdict(sizes) | {"images": args.images}))
    if args.flood:
        sizes = Sizes(**(asdict(sizes) | {"flood": args.flood}))
    timeout = args.timeout or (120 if args.quick else 900)
    names = args.only or list(cases(sizes, args.quick, timeout))
    load_before = load_average()
    began = time.monotonic()
    rows = asyncio.run(run(names, sizes, args.quick, timeout))
    judge = not args.quick
    load_after = load_average()
    print(table(rows, judge))
    print("\nOn a crash, as run here:")
    for side, guarantee in peer.ON_CRASH.items():
        print(f"- {side}: {guarantee}")
    mode = "quick (no verdicts)" if args.quick else "full"
    print(f"\n{mode} run, {sizes.reps} repetition(s) each: median (min-max); load average {load_before[0]:.2f}")
    print(f"before, {load_after[0]:.2f} after; {time.monotonic() - began:.0f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "load_average": {"before": load_before, "after": load_after},
                "quick": args.quick,
                "sizes": asdict(sizes),
                "seconds": time.monotonic() - began,
                "rows": [r.as_json(judge) for r in rows],
            },
            indent=2,
        )
    )
    print(f"results: {out}")
    if any(r.note.startswith("ERROR") for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
