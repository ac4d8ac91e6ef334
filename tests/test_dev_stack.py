"""`conveyor dev` as a user runs it: a subprocess that starts the Temporal dev server, outbox and worker."""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest

from tests.cli import BIN, run
from tests.dev_stack import alive, dev_env, dev_stack, started_dev
from tests.waiting import eventually


async def test_dev_stack_sends_to_outbox_and_keeps_jobs_across_restart(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "home")
    conveyor = str(BIN / "conveyor")
    async with dev_stack(env):
        sent = await run(conveyor, "send", "email", "--to", "ann@example.com", "--template", "welcome",
                         "--var", "name=Ann", env=env)  # fmt: skip
        assert sent.code == 0, sent.err
        job_id = sent.out.strip()
        waited = await run(conveyor, "wait", job_id, env=env)
        assert waited.code == 0, waited.err
        eml = tmp_path / "home" / "outbox" / f"{job_id}.eml"
        message = message_from_bytes(eml.read_bytes())
        assert message["To"] == "ann@example.com" and message["Subject"] == "Welcome to Conveyor, Ann!"

    async with dev_stack(env) as banner:  # the same SQLite file: the job is still there
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
    assert not (tmp_path / "home" / "dev-stack.json").exists(), "a stopped stack no longer says where it serves"


@pytest.mark.parametrize("setting", ["CONVEYOR_SMTP_PORT", "CONVEYOR_API_PORT", "CONVEYOR_METRICS_PORT"])
async def test_busy_port_is_one_line_naming_the_setting(tmp_path: Path, setting: str) -> None:
    env = dev_env(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env[setting])))
        taken.listen()
        ran = await run(str(BIN / "conveyor"), "dev", env=env)
    assert ran.code == 1
    assert ran.err.strip() == f"error: port {env[setting]} on 127.0.0.1 is in use; set {setting} to use another"


async def test_kill_9_of_conveyor_dev_leaves_nothing_behind(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "home")
    proc, _, children = await started_dev(env)
    proc.kill()  # SIGKILL: conveyor dev runs no clean-up of its own
    await proc.wait()
    left = await eventually(lambda: asyncio.to_thread(alive, children), lambda pids: not pids, timeout=30)
    assert left == set()
    async with dev_stack(env) as banner:  # ports and the SQLite file were let go: the same stack starts again
        assert "Ctrl-C stops everything" in banner
