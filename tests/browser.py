"""Headless Chromium for the page tests: Debian's `chromium`, driven by Playwright (nothing downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
"""Where page tests keep their screenshots (git-ignored)."""
