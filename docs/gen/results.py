"""Tables of measured figures, read from the JSON files the benchmark and the reliability suite write.

Both files are committed with the run the docs show (its date, machine, load and sizes come with it): `python -m
bench` rewrites its file, `pytest tests/reliability --record` the other. A build where a file is absent says so
("not measured in this build"), so the docs never show a number that no run on record produced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docs.gen.references import cell

NOT_MEASURED = "*Not measured in this build*: `{path}` is absent. Run `{command}` to measure, then build the docs."


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _spread(value: dict[str, Any] | None, unit: str) -> str:
    """`median (min-max) unit`, as the benchmark prints it."""
    if not value or not value.get("values"):
        return "-"
    values = value["values"]
    text = _figure(value["median"])
    if len(values) > 1:
        text += f" ({_figure(min(values))}-{_figure(max(values))})"
    return f"{text} {unit}".strip()


def _figure(x: float) -> str:
    """Three significant digits, a thousand and more in whole units (`1,164`, not `1.16e+03`)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _load(averages: list[float] | None) -> str:
    """The 1-minute load average, as `uptime` shows it."""
    return f"{averages[0]:.2f}" if averages else "?"


def performance_table(path: Path, shown_as: str, against: str | None = None) -> str:
    """The benchmark's latest run as a table, with when, where and at what sizes it ran; only the rows whose
    baseline's name starts with `against` if given (one peer's comparison)."""
    doc = _read(path)
    if doc is None:
        return NOT_MEASURED.format(path=shown_as, command="python -m bench")
    machine = doc.get("machine", {})
    load = doc.get("load_average", {})
    lines = [
        f"Measured {doc.get('date', '?')} on {machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')} "
        f"({'quick run, no verdicts' if doc.get('quick') else 'full run'}); load average "
        f"{_load(load.get('before'))} before, {_load(load.get('after'))} after; sizes "
        + ", ".join(f"{k} {v}" for k, v in doc.get("sizes", {}).items())
        + ".",
        "",
        "| case | Conveyor | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    rows = [r for r in doc.get("rows", []) if against is None or str(r.get("baseline_name", "")).startswith(against)]
    for row in rows:
        unit = row.get("unit", "")
        baseline = row.get("baseline")
        base = (
            f"{_spread(baseline, unit)} {row.get('baseline_name', '')}".strip() if baseline else row.get("note") or "-"
        )
        ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.2f}x"
        lines.append(
            f"| {cell(row['case'])} | {cell(_spread(row.get('conveyor'), unit))} | {cell(base)} | {ratio} | "
            f"{cell(row.get('target') or '-')} | {RESULTS.get(row.get('verdict', ''), 'n/a')} |"
        )
    return "\n".join([*lines, "", targets_met(rows)])


RESULTS = {"PASS": "pass", "FAIL": "**miss**"}
"""The bench's verdicts as the table shows them; a case without a target (or a quick run) has none."""


def targets_met(rows: list[dict[str, Any]]) -> str:
    """One line under the table: how many targets the run met, and which it missed."""
    judged = [row for row in rows if row.get("verdict") in RESULTS]
    if not judged:
        return "No verdicts: this run judged no targets."
    missed = [row["case"] for row in judged if row["verdict"] == "FAIL"]
    line = f"Targets met: {len(judged) - len(missed)} of {len(judged)}."
    return f"{line} Missed: {'; '.join(missed)}." if missed else line


def reliability_table(path: Path, shown_as: str, scenarios: tuple[str, ...] = ()) -> str:
    """The reliability suite's latest figures, one row per scenario; only those starting with one of `scenarios`
    if given."""
    doc = _read(path)
    if doc is None:
        return NOT_MEASURED.format(path=shown_as, command="pytest tests/reliability --full")
    lines = [
        f"Measured {doc.get('measured_at', '?')} ({doc.get('size', '?')} size) on {doc.get('machine', '?')}.",
        "",
        "| scenario | figures |",
        "|---|---|",
    ]
    for scenario, figures in doc.get("scenarios", {}).items():
        if scenarios and not scenario.startswith(scenarios):
            continue
        shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        lines.append(f"| {cell(scenario)} | {cell(shown)} |")
    return "\n".join(lines)


def crash_table(path: Path, shown_as: str, command: str = "python -m bench crash") -> str:
    """`python -m bench crash`'s committed run: one row per fault and side (median, min-max over its runs)."""
    from bench.crash import Run, table

    doc = _read(path)
    if doc is None:
        return NOT_MEASURED.format(path=shown_as, command=command)
    runs = [Run(**run) for run in doc.get("runs", [])]
    reps = len(runs) // max(len({(r.fault, r.side) for r in runs}), 1)
    load = _load(doc.get("load_average", {}).get("before"))
    lines = [
        f"Measured {doc.get('date', '?')}: {doc.get('jobs', '?')} email jobs per run, {reps} run(s) per fault and "
        f"side, each fault once a third were delivered; a killed process restarted {doc.get('restart_after_s', '?')}"
        f" s later, the SMTP server down for {doc.get('outage_s', '?'):g} s; the missing counted "
        f"{doc.get('wait_s', '?'):g} s after the fault, or once all were delivered (load average {load}).",
        "",
        table(runs),
    ]
    skipped = doc.get("skipped") or ({"Celery": doc["celery_skipped"]} if doc.get("celery_skipped") else {})
    lines += [f"\n{side} did not run: {reason}." for side, reason in skipped.items()]
    return "\n".join(lines)
