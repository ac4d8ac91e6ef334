"""The manual retry an operator does in the Temporal web UI, done by a real browser against `conveyor dev`:
open the failed job's page, Reset it to its first workflow task, and the job completes.

Headless Debian Chromium driven by Playwright's Python package (no browser download). A screenshot of the job
page is kept in `test-artifacts/`. Skipped only on a developer machine without Chromium; in CI it must run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.cli import BIN, run
from tests.dev_stack import dev_env, dev_stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


async def test_reset_in_the_web_ui_reruns_a_failed_job(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    # Reset is the workflow shape's re-run (email on a server without standalone activities, or `SendEmail` jobs in
    # flight from before the switch), so this job is produced in that shape.
    env = dev_env(tmp_path / "home") | {
        "CONVEYOR_TEMPLATES_DIR": str(tmp_path / "templates"),
        "CONVEYOR_STANDALONE_ACTIVITIES": "false",
    }
    conveyor = str(BIN / "conveyor")
    async with dev_stack(env):
        sent = await run(conveyor, "send", "email", "--to", "ann@example.com", "--template", "launch", env=env)
        job_id = sent.out.strip()
        failed = await run(conveyor, "wait", job_id, env=env)
        assert failed.code == 1 and "TemplateNotFound" in failed.err

        launch = tmp_path / "templates" / "launch"  # the operator fixes the cause ...
        launch.mkdir(parents=True)
        (launch / "subject.txt").write_text("We launched!")
        (launch / "body.txt").write_text("It's live.")

        async with async_playwright() as p:  # ... and clicks Reset on the job's page
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            ui = f"http://127.0.0.1:{env['CONVEYOR_DEV_UI_PORT']}"
            await page.goto(f"{ui}/namespaces/default/workflows/{job_id}")
            await page.get_by_role("button", name="Reset", exact=True).click()
            dialog = page.get_by_role("dialog", name="Reset Workflow")
            await dialog.get_by_test_id("workflow-reset-event-id-select-button").click()
            await dialog.locator("#reset-event-id-select").get_by_text("WorkflowTaskCompleted").first.click()
            await dialog.get_by_placeholder("Enter a reason").fill("template added")
            await dialog.get_by_role("button", name="Confirm").click()
            await dialog.wait_for(state="hidden")

            done = await run(conveyor, "wait", job_id, env=env)
            assert done.code == 0, done.err
            await page.goto(f"{ui}/namespaces/default/workflows/{job_id}")  # no run id: the latest run
            await page.get_by_text(re.compile(r"^completed$", re.IGNORECASE)).first.wait_for()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "web-ui-reset.png"))
            await browser.close()

        assert (tmp_path / "home" / "outbox" / f"{job_id}.eml").read_text().count("We launched!") == 1
