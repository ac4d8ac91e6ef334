"""`conveyor dev` as a user runs it: a subprocess that starts the Temporal dev server, outbox and worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from pathlib import Path

import httpx
import pytest

from tests.cli import BIN, run
from tests.smtp_server import free_port


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":  # a zombie has exited; only its exit status is left
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def dev_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_HOME": str(home),
        "CONVEYOR_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "CONVEYOR_DEV_UI_PORT": str(free_port()),
        "CONVEYOR_SMTP_PORT": str(free_port()),
        "CONVEYOR_API_PORT": str(free_port()),
        "CONVEYOR_METRICS_PORT": str(free_port()),
    }
    return env


@asynccontextmanager
async def dev_stack(env: dict[str, str]) -> AsyncIterator[str]:
    """`conveyor dev`, once it printed that it is up (yields the banner); SIGTERM on leaving, which must exit 0
    leaving no child."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "conveyor"), "dev", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    banner = b""
    async with asyncio.timeout(60):
        while b"Ctrl-C stops everything" not in banner:
            line = await proc.stdout.readline()
            assert line, f"conveyor dev exited early: {banner.decode()}"
            banner += line
    assert f"Web UI       http://127.0.0.1:{env['CONVEYOR_DEV_UI_PORT']}" in banner.decode()
    children = children_of(proc.pid)
    assert children, "the Temporal server runs as a child"
    try:
        yield banner.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        left = {c for c in children if Path(f"/proc/{c}").exists()}
        assert not left, f"processes left behind: {left}"


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
        [key] = re.findall(rf"HTTP API     http://127.0.0.1:{env['CONVEYOR_API_PORT']}  key (\S+)", banner)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['CONVEYOR_API_PORT']}") as http:
            assert (await http.get(f"/jobs/{job_id}")).status_code == 401
            status = await http.get(f"/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"})
            assert status.status_code == 200 and status.json()["state"] == "completed"
        with urllib.request.urlopen(f"http://127.0.0.1:{env['CONVEYOR_METRICS_PORT']}/metrics") as metrics:  # noqa: ASYNC210
            assert b"temporal_" in metrics.read()


@pytest.mark.parametrize("setting", ["CONVEYOR_SMTP_PORT", "CONVEYOR_API_PORT", "CONVEYOR_METRICS_PORT"])
async def test_busy_port_is_one_line_naming_the_setting(tmp_path: Path, setting: str) -> None:
    env = dev_env(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env[setting])))
        taken.listen()
        ran = await run(str(BIN / "conveyor"), "dev", env=env)
    assert ran.code == 1
    assert ran.err.strip() == f"error: port {env[setting]} on 127.0.0.1 is in use; set {setting} to use another"
