"""Headless Chromium for the page tests: Debian's `chromium`, driven by Playwright (nothing downloads)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
"""Where page tests keep their screenshots (git-ignored)."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium, closed on leaving the block. Launched once per session (`browser` fixture): each
    test opens a context of its own in it, which costs milliseconds where a launch costs a second or more."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()
