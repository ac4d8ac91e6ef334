"""The figures the reliability scenarios measure, collected for the session-end table and `results/latest.json`.

Each scenario records what it measured (lost, duplicated, failed, crashes, leaks, RSS ...) under its own name;
the conftest prints them after the run and writes them to a JSON file, from which the docs' reliability table is
generated: a real run's figures, never typed in.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIGURES: dict[str, dict[str, Any]] = {}
"""Scenario name -> its figures, in the order the scenarios ran."""

RESULTS = Path(__file__).parent / "results" / "latest.json"


def record(scenario: str, **figures: Any) -> None:
    """Keep `figures` of `scenario` for the summary (a scenario recorded twice keeps its latest figures)."""
    FIGURES[scenario] = figures


def lines() -> list[str]:
    """The figures as one line per scenario: `scenario: name=value, ...`."""
    width = max((len(s) for s in FIGURES), default=0)
    return [
        f"{scenario:<{width}}  " + ", ".join(f"{k}={v}" for k, v in figures.items())
        for scenario, figures in FIGURES.items()
    ]


def write(size: str, path: Path = RESULTS) -> Path:
    """Write the figures, with the size and when and where they were measured, as JSON to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "size": size,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "scenarios": FIGURES,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
