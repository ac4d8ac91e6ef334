"""The manual retry an operator does in the Temporal web UI, done by a real browser against `conveyor dev`, for
both shapes: a workflow-shaped job is Reset to its first workflow task; an activity-shaped job is re-run in one
click ("More Actions → Start Standalone Activity Like This One" → Start). Either way the job completes under its
own id.

Headless Debian Chromium driven by Playwright's Python package (no browser download). A screenshot of the job
page is kept in `test-artifacts/`. Skipped only on a developer machine without Chromium; in CI it must run.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from conveyor import Jobs, Settings
from tests.browser import ARTIFACTS, CHROMIUM
from tests.cli import BIN, run
from tests.dev_stack import dev_env, dev_stack
from tests.phones import sent_by_sns, unique_phone
from tests.sns_gate import SnsGate

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


async def failed_launch_email(env: dict[str, str], to: str, key: str | None = None) -> str:
    """The id of an email job sent to `to` with the template `launch`, which the stack does not have yet: failed."""
    keyed = ["--key", key] if key else []
    sent = await run(str(BIN / "conveyor"), "send", "email", "--to", to, "--template", "launch", *keyed, env=env)
    job_id = sent.out.strip()
    failed = await run(str(BIN / "conveyor"), "wait", job_id, env=env)
    assert failed.code == 1 and "TemplateNotFound" in failed.err
    return job_id


async def test_reset_in_the_web_ui_reruns_a_failed_job(tmp_path: Path, browser: Browser) -> None:
    env = dev_env(tmp_path / "home") | {
        "CONVEYOR_TEMPLATES_DIR": str(tmp_path / "templates"),
        "CONVEYOR_STANDALONE_ACTIVITIES": "false",  # the workflow shape: the one a Reset applies to
    }
    conveyor = str(BIN / "conveyor")
    async with dev_stack(env):
        job_id = await failed_launch_email(env, "ann@example.com")

        launch = tmp_path / "templates" / "launch"  # the operator fixes the cause ...
        launch.mkdir(parents=True)
        (launch / "subject.txt").write_text("We launched!")
        (launch / "body.txt").write_text("It's live.")

        async with await browser.new_context(viewport={"width": 1400, "height": 1000}) as context:
            page = await context.new_page()  # ... and clicks Reset on the job's page
            ui = f"http://127.0.0.1:{env['CONVEYOR_DEV_UI_PORT']}"
            await page.goto(f"{ui}/namespaces/default/workflows/{job_id}")
            await page.get_by_role("button", name="Reset", exact=True).click()
            dialog = page.get_by_role("dialog", name="Reset Workflow")
            await dialog.get_by_test_id("workflow-reset-event-id-select-button").click()
            await dialog.locator("#reset-event-id-select").get_by_text("WorkflowTaskCompleted").first.click()
            await dialog.get_by_placeholder("Enter a reason").fill("template added")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "web-ui-reset-dialog.png"))
            await dialog.get_by_role("button", name="Confirm").click()
            await dialog.wait_for(state="hidden")

            done = await run(conveyor, "wait", job_id, env=env)
            assert done.code == 0, done.err
            await page.goto(f"{ui}/namespaces/default/workflows/{job_id}")  # no run id: the latest run
            await page.get_by_text(re.compile(r"^completed$", re.IGNORECASE)).first.wait_for()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "web-ui-reset.png"))

        assert (tmp_path / "home" / "outbox" / f"{job_id}.eml").read_text().count("We launched!") == 1


async def rerun_in_one_click(page: Page, job_page: str, failure: str, screenshot: Path | None = None) -> str:
    """On a failed activity-shaped job's page: More Actions → "Start Standalone Activity Like This One" → Start,
    typing nothing; the new run's page. With `screenshot`, the page with that menu open is kept there."""
    await page.goto(job_page)
    await page.get_by_text(failure).first.wait_for()
    await page.get_by_role("button", name="More Actions").click()
    like_this_one = page.get_by_text("Start Standalone Activity Like This One")
    await like_this_one.wait_for()
    if screenshot is not None:
        await page.screenshot(path=str(screenshot))
    await like_this_one.click()
    await page.wait_for_url(re.compile(r"/activities/start\?"))
    await page.get_by_test_id("start-standalone-activity-submit-button").click()
    await page.get_by_role("link", name="Activity execution started.").click()  # the new run's page
    await page.wait_for_url(re.compile(r"/activities/[^/]+/[^/]+/details"))
    return page.url


async def test_one_click_in_the_web_ui_reruns_a_failed_email_and_sms_job(
    tmp_path: Path, moto_server: str, browser: Browser
) -> None:
    """The UI's own re-run of an activity-shaped job, typing nothing: a failed email (its template missing) and a
    failed SMS (the provider refused: SNS's AuthorizationError), their causes fixed, each re-run in one click,
    completes: one message sent, the same job (id, kind, `status`, `list --key`, `list --recipient`, not in
    `failed`, counted once in `stats`), attempts counted from 1. If a web UI breaks the one click again (as 2.54.1
    did for any job carrying a search attribute), this fails."""
    tag = uuid.uuid4().hex[:8]
    phone, address = unique_phone(), f"bo-{tag}@example.com"
    with SnsGate(moto_server) as sns:
        env = dev_env(tmp_path / "home") | {
            "CONVEYOR_TEMPLATES_DIR": str(tmp_path / "templates"),
            "CONVEYOR_STANDALONE_ACTIVITIES": "true",
            "CONVEYOR_SMS_PROVIDER": "sns", "CONVEYOR_SNS_ENDPOINT_URL": sns.url,
            "CONVEYOR_AWS_ACCESS_KEY_ID": "testing", "CONVEYOR_AWS_SECRET_ACCESS_KEY": "testing",
        }  # fmt: skip
        conveyor = str(BIN / "conveyor")
        async with dev_stack(env):
            email_id = await failed_launch_email(env, address, key=f"launch-{tag}")
            sent = await run(
                conveyor, "send", "sms", "--to", phone, "--body", "We launched!", "--key", f"t-{tag}", env=env
            )
            sms_id = sent.out.strip()
            refused = await run(conveyor, "wait", sms_id, env=env)
            assert refused.code == 1 and "SmsRejected" in refused.err, refused.err
            pages = {job: re.findall(r"web UI\s+(\S+)", (await run(conveyor, "status", job, env=env)).out)[0]
                     for job in (email_id, sms_id)}  # fmt: skip

            launch = tmp_path / "templates" / "launch"  # the operator fixes both causes ...
            launch.mkdir(parents=True)
            (launch / "subject.txt").write_text("We launched!")
            (launch / "body.txt").write_text("It's live.")
            sns.refusing = False

            ARTIFACTS.mkdir(exist_ok=True)
            async with await browser.new_context(viewport={"width": 1400, "height": 1000}) as context:
                page = await context.new_page()  # ... and re-runs each job in one click
                new_run = await rerun_in_one_click(
                    page, pages[email_id], "TemplateNotFound", ARTIFACTS / "web-ui-rerun.png"
                )
                await rerun_in_one_click(page, pages[sms_id], "SmsRejected")
                for job in (email_id, sms_id):
                    done = await run(conveyor, "wait", job, env=env)
                    assert done.code == 0, done.err
                await page.goto(new_run)
                await page.get_by_text(re.compile(r"^completed$", re.IGNORECASE)).first.wait_for()
                await page.screenshot(path=str(ARTIFACTS / "web-ui-rerun-completed.png"))

            for job, kind in ((email_id, "email"), (sms_id, "sms")):
                shown = await run(conveyor, "status", job, env=env)
                assert re.search(rf"{kind}\s+completed", shown.out) and re.search(r"attempts\s+1\b", shown.out), (
                    shown.out
                )
            for flag, value, job in (("--key", f"launch-{tag}", email_id), ("--key", f"t-{tag}", sms_id),
                                     ("--recipient", address, email_id), ("--recipient", phone, sms_id)):  # fmt: skip
                listed = json.loads((await run(conveyor, "list", flag, value, "--json", env=env)).out)
                assert [(row["id"], row["state"]) for row in listed] == [(job, "completed")], (flag, value, listed)
            assert json.loads((await run(conveyor, "failed", "--json", env=env)).out) == []
            stats = json.loads((await run(conveyor, "stats", "--json", env=env)).out)
            for kind in ("email", "sms"):
                counted = {
                    state: sum(q[state] for q in stats["counts"][kind].values()) for state in ("completed", "failed")
                }
                assert counted == {"completed": 1, "failed": 0}, (kind, stats["counts"][kind])

    assert (tmp_path / "home" / "outbox" / f"{email_id}.eml").read_text().count("We launched!") == 1
    assert [m["message"] for m in sent_by_sns(moto_server, phone)] == ["We launched!"]


async def test_a_job_of_each_shape_from_every_door_reads_back_everywhere(tmp_path: Path, browser: Browser) -> None:
    """An email (a standalone activity) and a broadcast (a workflow), each started from Python, the CLI, HTTP and
    the `temporal` CLI with plain JSON, against one `conveyor dev`: every one is completed in `status`, listed,
    counted once in `stats`, and its web UI page (the link `status` prints) shows it completed."""
    env = dev_env(tmp_path / "home")
    conveyor, temporal, address = str(BIN / "conveyor"), str(BIN / "temporal"), env["CONVEYOR_TEMPORAL_ADDRESS"]
    email = {"to": ["door@example.com"], "subject": "Doors", "text": "one of each"}
    broadcast = {"source": "static:door@example.com", "message": {"template": "newsletter"}}
    async with dev_stack(env) as banner:
        [key] = re.findall(r"HTTP API     http://\S+  key (\S+)", banner)
        ids: dict[str, str] = {}

        jobs = await Jobs.connect(Settings(temporal_address=address))
        ids["email from Python"] = (await jobs.email(email)).id
        ids["broadcast from Python"] = (await jobs.broadcast(broadcast)).id
        for kind, job in (("email", email), ("broadcast", broadcast)):
            sent = await run(conveyor, "enqueue", kind, json.dumps(job), env=env)
            assert sent.code == 0, sent.err
            ids[f"{kind} from the CLI"] = sent.out.strip()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}", headers={"Authorization": f"Bearer {key}"}
        ) as http:
            for kind, job in (("email", email), ("broadcast", broadcast)):
                posted = await http.post(f"/jobs/{kind}", json=job)
                assert posted.status_code == 202, posted.text
                ids[f"{kind} over HTTP"] = posted.json()["id"]
        ids["email from temporal"] = f"email-door-{uuid.uuid4().hex[:8]}"
        started = await run(
            temporal, "activity", "start", "--address", address, "--type", "email", "--task-queue", "conveyor",
            "--activity-id", ids["email from temporal"], "--start-to-close-timeout", "1m", "--input", json.dumps(email),
        )  # fmt: skip
        assert started.code == 0, started.err
        ids["broadcast from temporal"] = f"broadcast-door-{uuid.uuid4().hex[:8]}"
        started = await run(
            temporal, "workflow", "start", "--address", address, "--type", "Broadcast", "--task-queue", "conveyor",
            "--workflow-id", ids["broadcast from temporal"], "--input", json.dumps(broadcast),
        )  # fmt: skip
        assert started.code == 0, started.err

        pages: dict[str, str] = {}
        for door, job_id in ids.items():
            waited = await run(conveyor, "wait", job_id, env=env)
            assert waited.code == 0, f"{door}: {waited.err}"
            shown = await run(conveyor, "status", job_id, env=env)
            kind = door.split()[0]
            assert re.search(rf"^{re.escape(job_id)}\s+{kind}\s+completed$", shown.out, re.MULTILINE), shown.out
            [pages[door]] = re.findall(r"web UI\s+(\S+)", shown.out)
            shape = "activities" if kind == "email" else "workflows"
            assert f"/namespaces/default/{shape}/{job_id}" in pages[door], door

        listed = await run(conveyor, "list", "--json", env=env)  # the stack's own failure watch is not listed
        rows = json.loads(listed.out)
        assert {row["id"] for row in rows} == set(ids.values()), rows
        stats = json.loads((await run(conveyor, "stats", "--json", env=env)).out)
        completed = {kind: sum(q["completed"] for q in queues.values()) for kind, queues in stats["counts"].items()}
        assert completed["email"] == 4 and completed["broadcast"] == 4, completed

        async with await browser.new_context(viewport={"width": 1400, "height": 1000}) as context:
            page = await context.new_page()
            for door, link in pages.items():
                await page.goto(link)
                await page.get_by_text(ids[door]).first.wait_for()
                await page.get_by_text(re.compile(r"^completed$", re.IGNORECASE)).first.wait_for()
