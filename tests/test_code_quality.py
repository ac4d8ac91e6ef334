"""The code stays lint- and type-clean: ruff and mypy run as part of the suite, so CI holds them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.background import mypy_outcome

ROOT = Path(__file__).parent.parent


def test_ruff_clean() -> None:
    ran = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_ruff_formatted() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_mypy_clean() -> None:
    """mypy started when this test was collected (`tests.background`); its outcome, waited for here."""
    code, out = mypy_outcome()
    assert code == 0, out
