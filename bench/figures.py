"""What a case reports: repeated measurements summarised as median/min/max, a ratio to a baseline measured in
the same run, and a verdict against the case's target. One table for the terminal, one JSON file for machines."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spread:
    """Repeated measurements of one figure."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, unit: str) -> str:
        """`123 (110-130) unit`: median, then min-max when there was more than one run."""
        if not self.values:
            return "-"
        text = fmt(self.median)
        if len(self.values) > 1:
            text += f" ({fmt(min(self.values))}-{fmt(max(self.values))})"
        return f"{text} {unit}".rstrip()


def fmt(value: float) -> str:
    """Three significant digits, no exponent."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by linear interpolation; the max for q=100."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    """One line of the table. `ratio` is Conveyor's median over the baseline's median; `check` says whether
    the target holds (None: nothing to judge, e.g. a skipped peer)."""

    case: str
    unit: str
    conveyor: Spread
    baseline: Spread | None = None
    baseline_name: str = ""
    target: str = ""
    check: Callable[[Row], bool] | None = field(default=None, repr=False)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline.values or not self.conveyor.values:
            return None
        return self.conveyor.median / self.baseline.median

    def verdict(self, judge: bool) -> str:
        """PASS/FAIL against the target; `n/a` when not judging (quick mode) or nothing to judge."""
        if not judge or self.check is None or not self.conveyor.values:
            return "n/a"
        return "PASS" if self.check(self) else "FAIL"

    def as_json(self, judge: bool) -> dict[str, Any]:
        return {
            "case": self.case,
            "unit": self.unit,
            "conveyor": asdict(self.conveyor) | {"median": self.conveyor.median if self.conveyor.values else None},
            "baseline": None
            if self.baseline is None
            else asdict(self.baseline) | {"median": self.baseline.median if self.baseline.values else None},
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "target": self.target,
            "verdict": self.verdict(judge),
            "note": self.note,
            **self.extra,
        }


COLUMNS = ("case", "Conveyor", "baseline", "ratio", "target", "result")


def table(rows: list[Row], judge: bool) -> str:
    """The rows as one Markdown table (it reads in a terminal and pastes into the README)."""
    lines = [
        [
            r.case,
            r.conveyor.show(r.unit),
            f"{r.baseline.show(r.unit)} {r.baseline_name}".strip() if r.baseline else r.note[:60] or "-",
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target or "-",
            r.verdict(judge),
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)
