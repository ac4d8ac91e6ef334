"""`conveyor dev` run as a user runs it, for tests: a subprocess, its environment, and its children."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.cli import BIN
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


def command_of(pid: int) -> list[str]:
    """The command line of process `pid` (empty if it is gone)."""
    try:
        return [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if part]
    except OSError:
        return []


def dev_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_HOME": str(home),
        "CONVEYOR_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "CONVEYOR_DEV_UI_PORT": str(free_port()),
        "CONVEYOR_SMTP_PORT": str(free_port()),
        "CONVEYOR_API_PORT": str(free_port()),
        "CONVEYOR_METRICS_PORT": str(free_port()),
        "CONVEYOR_HEALTH_PORT": str(free_port()),
    }
    return env


async def started_dev(
    env: dict[str, str], cwd: Path | None = None, terminal: bool = False
) -> tuple[asyncio.subprocess.Process, str, set[int]]:
    """`conveyor dev` (in `cwd`, default this process's), once it printed that it is up: the process, its banner
    and its children. `terminal`: in a process group of its own, as a shell runs a foreground command (a Ctrl-C
    there reaches the whole group: `os.killpg(proc.pid, signal.SIGINT)`)."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "conveyor"), "dev", env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, process_group=0 if terminal else None,
    )  # fmt: skip
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
    commands = [command_of(pid) for pid in children]
    assert any(c[-2:] == ["conveyor", "api"] or c[-1:] == ["api"] for c in commands), (
        f"the API runs as a process of its own, so a busy worker cannot freeze it: {commands}"
    )
    return proc, banner.decode(), children


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie counts as gone: only its exit status is left)."""
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


@asynccontextmanager
async def dev_stack(env: dict[str, str], cwd: Path | None = None) -> AsyncIterator[str]:
    """`conveyor dev` (in `cwd`, default this process's), once it printed that it is up (yields the banner);
    SIGTERM on leaving, which must exit 0 leaving no child."""
    proc, banner, children = await started_dev(env, cwd)
    try:
        yield banner
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        left = alive(children)
        assert not left, f"processes left behind: {left}"
