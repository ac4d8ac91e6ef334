"""The reliability suite's size (`--full` or the CI default) and its session-end report of measured figures.

`pytest tests/reliability --full` runs every scenario at full size (1,000 jobs in flight at a
worker crash, 10,000 jobs of load, 1,000 fuzz examples per edge); the normal `pytest` run uses the small sizes so
CI stays quick. Either way the figures are printed at the end of the run; `--record` also writes them to
`results/latest.json`, the committed file the docs' reliability table is generated from (a run that records is
one worth publishing: the whole suite of scenarios, on a quiet machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability import figures


@dataclass(frozen=True)
class Size:
    """How big each scenario is."""

    name: str
    crash_jobs: int
    """Email jobs in flight when the worker is killed."""
    server_crash_jobs: int
    """Jobs enqueued when the Temporal server is killed."""
    outage_jobs: int
    """Jobs that arrive while SMTP (or S3, SNS) is down."""
    load_jobs: int
    """Mixed jobs through one worker."""
    fuzz_examples: int
    """Hypothesis examples per edge (each job model, the CLI)."""
    timeout: float
    """Seconds a scenario may wait for its jobs: a worker that stops polling fails the test, never hangs it."""


CI = Size("ci", crash_jobs=150, server_crash_jobs=40, outage_jobs=10, load_jobs=300, fuzz_examples=100, timeout=120)
FULL = Size(
    "full", crash_jobs=1000, server_crash_jobs=300, outage_jobs=100, load_jobs=10_000, fuzz_examples=1000, timeout=900
)


FULL_TEST_TIMEOUT = 1800
"""pytest-timeout's limit per reliability test at full size. pyproject's 300 s is sized for CI; a full-size
scenario runs for minutes (the job-model fuzz at `--random --full`, 40,000 examples, took 280 s and then over 300 s
on this loaded 2-core machine and was cut off there), while a hung worker must still fail the run, not stall it."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full", action="store_true", default=False, help="Run the reliability scenarios at their full size."
    )
    parser.addoption(
        "--record",
        action="store_true",
        default=False,
        help="Write the reliability figures to tests/reliability/results/latest.json (the docs' table).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """At full size, give this directory's tests `FULL_TEST_TIMEOUT` instead of the suite's per-test limit."""
    if not config.getoption("--full"):
        return
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.timeout(FULL_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def size(pytestconfig: pytest.Config) -> Size:
    """The size of this run: `FULL` with `--full`, else `CI`."""
    return FULL if pytestconfig.getoption("--full") else CI


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the figures the scenarios measured; with `--record`, write them to `results/latest.json`."""
    if not figures.FIGURES:
        return
    size = FULL if config.getoption("--full") else CI
    terminalreporter.write_sep("=", f"reliability figures ({size.name} size)")
    for line in figures.lines():
        terminalreporter.write_line(line)
    if config.getoption("--record"):
        terminalreporter.write_line(f"written to {figures.write(size.name)}")
