"""Checks that need only CPU, started in the background as soon as their test is collected: their seconds overlap
the suite's waits on servers instead of adding to them. Niced, so a test waiting on a server is never slowed by
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
MYPY_TEST = "tests/test_code_quality.py::test_mypy_clean"

_mypy: subprocess.Popen[str] | None = None


def start_mypy() -> None:
    """Run mypy over the tree (~40 s of one core) in the background, once."""
    global _mypy
    if _mypy is None:
        _mypy = subprocess.Popen(
            [sys.executable, "-m", "mypy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=lambda: os.nice(10),
        )  # fmt: skip


def mypy_outcome() -> tuple[int, str]:
    """mypy's exit code and output, waiting for the background run (started now if it was not)."""
    start_mypy()
    assert _mypy is not None
    out, _ = _mypy.communicate()
    return _mypy.returncode, out
