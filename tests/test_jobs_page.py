"""The jobs page (`/ui` of `conveyor api`), driven by headless Chromium against one `conveyor dev`: log-in with
an API key, an overview whose counts are `conveyor stats --json`'s with the workers polling each queue, the failed
list with its reasons, retry of one job and "retry all shown" (with its confirmation) once the cause is fixed, and
the refusals: no page or action without a session, no POST without its CSRF token or from another site.

Screenshots of the overview, the failed list and a job's page are kept in `test-artifacts/`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.browser import ARTIFACTS, CHROMIUM, FLAGS
from tests.cli import BIN, run
from tests.dev_stack import dev_env, dev_stack

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


async def failed_email(env: dict[str, str], to: str) -> str:
    """The id of an email job to `to` with the template `launch`, which the stack does not have yet: failed."""
    conveyor = str(BIN / "conveyor")
    job_id = (await run(conveyor, "send", "email", "--to", to, "--template", "launch", env=env)).out.strip()
    failed = await run(conveyor, "wait", job_id, env=env)
    assert failed.code == 1 and "TemplateNotFound" in failed.err, failed.err
    return job_id


async def test_jobs_page_shows_counts_failures_and_retries(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    env = dev_env(tmp_path / "home") | {"CONVEYOR_TEMPLATES_DIR": str(tmp_path / "templates")}
    conveyor = str(BIN / "conveyor")
    api = f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}"
    async with dev_stack(env) as banner:
        assert f"Jobs page    {api}/ui" in banner
        [key] = re.findall(r"HTTP API     http://\S+  key (\S+)", banner)
        ann, bob = [await failed_email(env, to) for to in ("ann@example.com", "bob@example.com")]

        async with httpx.AsyncClient(base_url=api) as http:  # no session: every page and action refused
            for path in ("/ui", "/ui/jobs?state=failed", f"/ui/job?id={ann}"):
                answer = await http.get(path)
                assert (answer.status_code, answer.headers.get("location")) == (303, "/ui/login"), path
                assert ann not in answer.text
            for path in ("/ui/retry", "/ui/cancel", "/ui/retry-all", "/ui/logout"):
                assert (await http.post(path, data={"id": ann, "csrf": "guess"})).status_code == 403, path
            wrong = await http.post("/ui/login", data={"key": "not-a-key"})
            assert wrong.status_code == 401 and "set-cookie" not in wrong.headers

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(f"{api}/ui")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Log in").click()
            await page.locator("#counts").wait_for()
            [cookie] = await context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and key not in cookie["value"]
            assert key not in await page.content()

            stats = json.loads((await run(conveyor, "stats", "--json", env=env)).out)
            shown: dict[str, dict[str, dict[str, int]]] = {}
            for row in await page.locator("#counts tbody tr").all():
                kind, queue = await row.get_attribute("data-kind"), await row.get_attribute("data-queue")
                assert kind is not None and queue is not None
                cells = await row.locator("td[data-state]").all()
                shown.setdefault(kind, {})[queue] = {
                    str(await c.get_attribute("data-state")): int(await c.inner_text()) for c in cells
                }
                assert int(str(await row.locator("td[data-workers]").get_attribute("data-workers"))) > 0, queue
            states = ("queued", "scheduled", "running", "retrying", "failed", "completed")
            counted = {k: {q: {s: n[s] for s in states} for q, n in qs.items()} for k, qs in stats["counts"].items()}
            assert shown == counted
            assert shown["email"]["conveyor"]["failed"] == 2
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "jobs-page-overview.png"), full_page=True)

            await page.goto(f"{api}/ui/jobs?state=failed")
            for job_id in (ann, bob):
                assert "TemplateNotFound" in await page.locator(f'tr[data-id="{job_id}"]').inner_text()
            await page.screenshot(path=str(ARTIFACTS / "jobs-page-failed.png"), full_page=True)

            # The session's cookie and even its CSRF token, sent from another site, retry nothing.
            token = await page.locator('input[name="csrf"]').first.input_value()
            forged = await context.new_page()
            await forged.set_content(
                f'<form method="post" action="{api}/ui/retry"><input name="id" value="{ann}">'
                f'<input name="csrf" value="{token}"><button>Win</button></form>'
            )
            async with forged.expect_response(f"{api}/ui/retry") as refused:
                await forged.get_by_role("button", name="Win").click()
            assert (await refused.value).status == 403
            no_token = await context.request.post(f"{api}/ui/retry", form={"id": ann}, max_redirects=0)
            assert no_token.status == 403

            launch = tmp_path / "templates" / "launch"  # the cause is fixed ...
            launch.mkdir(parents=True)
            (launch / "subject.txt").write_text("We launched!")
            (launch / "body.txt").write_text("It's live.")

            await page.get_by_role("button", name=f"Retry {ann}").click()  # ... one job is retried ...
            await page.locator("#state").wait_for()
            done = await run(conveyor, "wait", ann, env=env)
            assert done.code == 0, done.err
            await page.reload()
            assert await page.locator("#state").inner_text() == "completed"
            await page.screenshot(path=str(ARTIFACTS / "jobs-page-job.png"), full_page=True)

            await page.goto(f"{api}/ui/jobs?state=failed")  # ... and the rest, all shown, after a confirmation
            assert await page.locator("#jobs tbody tr[data-id]").count() == 1
            await page.get_by_role("button", name="Retry all 1 shown…").click()
            assert await page.locator("main li").all_inner_texts() == [bob]
            await page.get_by_role("button", name="Yes, retry 1 jobs").click()
            await page.locator("#jobs").wait_for()
            done = await run(conveyor, "wait", bob, env=env)
            assert done.code == 0, done.err
            await browser.close()
