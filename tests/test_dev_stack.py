"""`conveyor dev` as a user runs it: a subprocess that starts the Temporal dev server, outbox and worker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import urllib.request
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest

from tests.cli import BIN, run
from tests.dev_stack import alive, dev_env, dev_stack, started_dev
from tests.waiting import eventually

PHONES = [f"+1202555{n:04d}" for n in range(24)]
SLOW_BROADCAST = {"source": f"static:{','.join(PHONES)}", "message": {"channel": "sms", "body": "Hi"}, "batch_size": 4}
"""Batches of four, paced at four texts a second (`CONVEYOR_SMS_RATE_PER_SECOND=4`): mid-way when the stack stops
(a graceful stop lets the batch in hand finish; the later ones wait)."""


def texts(home: Path) -> list[str]:
    """The numbers the dev stack's SMS outbox texted, once per text."""
    path = home / "sms.jsonl"
    return [json.loads(line)["to"] for line in path.read_text().splitlines()] if path.exists() else []


async def test_dev_stack_sends_to_outbox_and_keeps_jobs_across_restart(tmp_path: Path) -> None:
    """A completed job is still there after a restart on the same SQLite file, and a job running when the stack
    stopped is finished by the next one: every phone of the broadcast gets its text."""
    home = tmp_path / "home"
    env = dev_env(home) | {"CONVEYOR_SMS_RATE_PER_SECOND": "4"}
    conveyor = str(BIN / "conveyor")
    async with dev_stack(env) as banner:
        [key] = re.findall(rf"HTTP API     http://127.0.0.1:{env['CONVEYOR_API_PORT']}  key (\S+)", banner)
        assert f"Jobs page    http://127.0.0.1:{env['CONVEYOR_API_PORT']}/ui" in banner
        auth = {"Authorization": f"Bearer {key}"}
        sent = await run(conveyor, "send", "email", "--to", "ann@example.com", "--template", "welcome",
                         "--var", "name=Ann", env=env)  # fmt: skip
        assert sent.code == 0, sent.err
        job_id = sent.out.strip()
        waited = await run(conveyor, "wait", job_id, env=env)
        assert waited.code == 0, waited.err
        eml = home / "outbox" / f"{job_id}.eml"
        message = message_from_bytes(eml.read_bytes())
        assert message["To"] == "ann@example.com" and message["Subject"] == "Welcome to Conveyor, Ann!"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}") as http:
            posted = await http.post("/jobs/broadcast", json=SLOW_BROADCAST, headers=auth)
        assert posted.status_code == 202, posted.text
        running_id = posted.json()["id"]
        await eventually(lambda: asyncio.to_thread(texts, home), bool, timeout=60)
    assert len(set(texts(home))) < len(PHONES), "the stack stopped after the broadcast ended: nothing was tested"

    async with dev_stack(env) as banner:  # the same SQLite file: the jobs are still there
        shown = await run(conveyor, "status", job_id, env=env)
        assert shown.code == 0 and "completed" in shown.out
        # A second terminal in the same directory that exported only the Temporal address: its job links still
        # go to the UI's moved port, which the running stack recorded.
        second = {k: v for k, v in env.items() if k not in ("CONVEYOR_DEV_UI_PORT", "CONVEYOR_API_PORT")}
        linked = await run(conveyor, "status", job_id, env=second)
        ui = f"http://127.0.0.1:{env['CONVEYOR_DEV_UI_PORT']}/namespaces/default/activities/{job_id}/"
        assert f"web UI     {ui}" in linked.out, linked.out + linked.err
        [key] = re.findall(rf"HTTP API     http://127.0.0.1:{env['CONVEYOR_API_PORT']}  key (\S+)", banner)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}") as http:
            assert (await http.get(f"/jobs/{job_id}")).status_code == 401
            status = await http.get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
            assert status.status_code == 200 and status.json()["state"] == "completed"
        with urllib.request.urlopen(f"http://127.0.0.1:{env['CONVEYOR_METRICS_PORT']}/metrics") as metrics:  # noqa: ASYNC210
            assert b"temporal_" in metrics.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{env['CONVEYOR_HEALTH_PORT']}/healthz") as health:  # noqa: ASYNC210
            assert json.loads(health.read())["status"] == "ok", "the worker's event loop is watched"
        finished = await run(conveyor, "wait", running_id, env=env, timeout=120)
        assert finished.code == 0, finished.err
    assert set(texts(home)) == set(PHONES), "the broadcast running at the restart texted every phone"
    assert not (home / "dev-stack.json").exists(), "a stopped stack no longer says where it serves"


@pytest.mark.parametrize(
    "setting", ["CONVEYOR_SMTP_PORT", "CONVEYOR_API_PORT", "CONVEYOR_METRICS_PORT", "CONVEYOR_HEALTH_PORT"]
)
async def test_busy_port_is_one_line_naming_the_setting(tmp_path: Path, setting: str) -> None:
    env = dev_env(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env[setting])))
        taken.listen()
        ran = await run(str(BIN / "conveyor"), "dev", env=env)
    assert ran.code == 1
    assert ran.err.strip() == f"error: port {env[setting]} on 127.0.0.1 is in use; set {setting} to use another"


async def test_kill_9_of_conveyor_dev_leaves_nothing_behind_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "home")
    proc, _, children = await started_dev(env)
    proc.kill()  # SIGKILL: conveyor dev runs no clean-up of its own
    await proc.wait()
    left = await eventually(lambda: asyncio.to_thread(alive, children), lambda pids: not pids, timeout=30)
    assert left == set()
    # Ports and the SQLite file were let go: the same stack starts again. Then Ctrl-C in its terminal: SIGINT to
    # the whole foreground process group (the stack and every child at once), as a shell delivers it.
    proc, banner, children = await started_dev(env, terminal=True)
    assert "Ctrl-C stops everything" in banner
    os.killpg(proc.pid, signal.SIGINT)
    async with asyncio.timeout(60):
        assert await proc.wait() == 0
    left = await eventually(lambda: asyncio.to_thread(alive, children), lambda pids: not pids, timeout=30)
    assert left == set()
