"""`python -m bench crash`: a worker killed with SIGKILL mid-run, through Conveyor and through Celery, side by side.

    python -m bench crash                  # 300 email jobs, 3 repetitions per side
    python -m bench crash --jobs 100 --reps 1 --out /tmp/crash.json

Each run has a fresh stack of its own: Conveyor's dev server on its file database (as `conveyor dev` runs it) and a
`conveyor worker`; or a redis-server (no persistence) and a Celery 5 worker as `bench/peers/celery_app.py` runs it
(prefork, 2 processes, `acks_late`, prefetch 1). The same email jobs (the `welcome` template, one recipient each) go
to the same kind of SMTP sink, which records the recipient and Message-ID of every message it accepts. Once a third
of them have been accepted, the worker's whole process group is SIGKILLed (as the OOM killer does), and a new
worker starts 2 s later. Then each side has `--window` seconds to deliver the rest.

Per run: delivered (jobs whose email arrived at least once), missing at the end of the window, duplicates with the
same Message-ID (a receiver can drop them) and with a new one (it cannot), and seconds from the kill to the last
delivery. Celery's own recovery for a task its dead worker held is Redis's `visibility_timeout` (1 h by default),
longer than any window here: what is missing at the window's end stays missing for that hour.

The Celery side needs `bench/peers/setup.sh` (redis-server and the Celery virtualenv, never in Conveyor's own
install); without it the Celery rows say what to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from bench import peer
from bench.harness import BIN, ROOT, Sink, bench_settings, pollers_ready, scratch, temporal, worker_env
from bench.proc import load_average
from conveyor import Jobs
from conveyor.client import BulkJob, JobHandle

RESULTS = Path(__file__).parent / "results" / "crash.json"
"""The committed run the docs' crash table ("Coming from Celery") is generated from."""
RESTART_AFTER = 2.0
"""Seconds between the kill and the new worker's start, as an orchestrator restarting a crashed container."""
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def recipient(i: int) -> str:
    """Job i's one recipient: how the sink tells jobs apart, whatever their Message-IDs."""
    return f"reader{i}@example.com"  # as bench/peers/celery_send.py names them


class RecordingSink(Sink):
    """The bench's SMTP sink, also keeping (recipient, Message-ID, time) of every accepted message."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[str, bytes, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.original_content or envelope.content)
        for to in envelope.rcpt_tos:
            self.accepted.append((to, found[1] if found else b"", time.monotonic()))
        return await super().handle_DATA(server, session, envelope)

    def delivered(self, jobs: int) -> int:
        """How many of the `jobs` jobs' emails arrived at least once."""
        wanted = {recipient(i) for i in range(jobs)}
        return len({to for to, _, _ in self.accepted if to in wanted})


@dataclass(frozen=True)
class Run:
    """One run's figures."""

    side: str
    jobs: int
    delivered: int
    missing: int
    duplicates_same_id: int
    duplicates_new_id: int
    last_delivery_s: float
    """Seconds from the kill to the last accepted message of the run."""


def figures(side: str, sink: RecordingSink, jobs: int, killed_at: float) -> Run:
    wanted = {recipient(i) for i in range(jobs)}
    ours = [(to, mid, at) for to, mid, at in sink.accepted if to in wanted]
    per_job = Counter(to for to, _, _ in ours)
    per_message = Counter((to, mid) for to, mid, _ in ours)
    same = sum(n - 1 for n in per_message.values())
    delivered = len(per_job)
    return Run(
        side=side,
        jobs=jobs,
        delivered=delivered,
        missing=jobs - delivered,
        duplicates_same_id=same,
        duplicates_new_id=sum(per_job.values()) - delivered - same,
        last_delivery_s=round(max((at for _, _, at in ours), default=killed_at) - killed_at, 1),
    )


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    """Wait for `condition` (polled) for at most `timeout` seconds; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)  # polling a condition with a deadline
    return True


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in a session of its own, and every process of its group (its pool's children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class Restartable:
    """A worker's command in a process group of its own, which the scenario kills and starts again; whatever runs
    on leaving is SIGKILLed with its group."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: IO[bytes]) -> None:
        self.command, self.env, self.cwd, self.log = command, env, cwd, log
        self.proc = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        kill_group(self.proc)

    def restart(self) -> None:
        self.proc = self._launch()

    def __enter__(self) -> Restartable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


async def crash_and_restart(worker: Restartable, sink: RecordingSink, jobs: int, timeout: float) -> float:
    """Once a third of the jobs are delivered, SIGKILL the worker's group; start a new one `RESTART_AFTER` s later.
    Returns when the kill happened."""
    if not await until(lambda: sink.delivered(jobs) >= jobs // 3, timeout):
        raise TimeoutError(f"{sink.delivered(jobs)} of {jobs} delivered before the kill, after {timeout} s")
    worker.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(RESTART_AFTER)  # the scenario's restart delay, not a wait for a result
    worker.restart()
    return killed_at


async def conveyor_run(jobs: int, window: float) -> Run:
    """The scenario through Conveyor: email jobs enqueued in bulk; waited for by their results."""
    with scratch() as home, RecordingSink() as sink, (home / "worker.log").open("ab") as log:
        settings = bench_settings(home, sink.port, task_queue=f"crash-{uuid.uuid4().hex[:8]}")
        command = [str(BIN / "conveyor"), "worker"]
        async with temporal(settings) as client:
            with Restartable(command, worker_env(settings), ROOT, log) as worker:
                await pollers_ready(client, settings.task_queue)
                items = [BulkJob("email", welcome(i)) for i in range(jobs)]
                handles = [h for h in await Jobs(client, settings).bulk(items) if isinstance(h, JobHandle)]
                killed_at = await crash_and_restart(worker, sink, jobs, window)
                # Every job's own end: once each has a result, no retry is left to send again.
                ended = asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended, window)
        return figures("Conveyor", sink, jobs, killed_at)


def welcome(i: int) -> dict[str, Any]:
    return {"to": [recipient(i)], "template": "welcome", "context": {"name": f"Reader {i}"}}


async def celery_run(jobs: int, window: float) -> Run:
    """The scenario through Celery: the peer's producer enqueues without waiting; the sink tells what arrived."""
    with scratch() as home, RecordingSink() as sink, peer.redis_server() as port:
        env = os.environ | {"REDIS_PORT": str(port), "SMTP_PORT": str(sink.port)}
        command = [str(peer.CELERY_PYTHON), "-m", "celery", "-A", "celery_app", "worker", "--pool=prefork",
                   "--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"]  # fmt: skip
        with (home / "celery.log").open("ab") as log, Restartable(command, env, peer.PEERS, log) as worker:
            produce = [str(peer.CELERY_PYTHON), "celery_send.py", "enqueue", str(jobs)]
            ran = await asyncio.to_thread(
                subprocess.run, produce, cwd=peer.PEERS, env=env, capture_output=True, text=True, timeout=window
            )
            if ran.returncode != 0:
                raise RuntimeError(f"Celery producer failed ({ran.returncode}): {ran.stderr[-500:]}")
            killed_at = await crash_and_restart(worker, sink, jobs, window)
            await until(lambda: sink.delivered(jobs) >= jobs, window)
        return figures("Celery 5 + Redis", sink, jobs, killed_at)


def table(runs: list[Run]) -> str:
    """One row per side: the median over its runs, and the min-max when they differ."""
    lines = [
        "| side | delivered | missing at the window's end | duplicates, same Message-ID | duplicates, new Message-ID "
        "| kill → last delivery |",
        "|---|---|---|---|---|---|",
    ]
    for side in dict.fromkeys(r.side for r in runs):
        ours = [r for r in runs if r.side == side]

        def shown(of: Callable[[Run], float], unit: str = "", ours: list[Run] = ours) -> str:
            values = sorted(of(r) for r in ours)
            median = values[len(values) // 2]
            spread = f" ({values[0]:g}-{values[-1]:g})" if values[0] != values[-1] else ""
            return f"{median:g}{unit}{spread}"

        lines.append(
            f"| {side} | {shown(lambda r: r.delivered)} of {ours[0].jobs} | {shown(lambda r: r.missing)} "
            f"| {shown(lambda r: r.duplicates_same_id)} | {shown(lambda r: r.duplicates_new_id)} "
            f"| {shown(lambda r: r.last_delivery_s, ' s')} |"
        )
    return "\n".join(lines)


async def run(jobs: int, reps: int, window: float) -> tuple[list[Run], str | None]:
    """Every repetition of both sides (Celery's only where its peer is installed); the reason Celery did not run."""
    skipped = peer.celery_missing()
    runs: list[Run] = []
    for _ in range(reps):
        runs.append(await conveyor_run(jobs, window))
        if skipped is None:
            runs.append(await celery_run(jobs, window))
    return runs, skipped


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench crash", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="email jobs per run (default 300)")
    parser.add_argument("--reps", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--window", type=float, default=120, help="seconds each side has after the kill")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    load_before = load_average()
    runs, skipped = asyncio.run(run(args.jobs, args.reps, args.window))
    print(table(runs))
    if skipped:
        print(f"\nCelery not run: {skipped}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count()},
                "load_average": {"before": load_before, "after": load_average()},
                "jobs": args.jobs,
                "window_s": args.window,
                "restart_after_s": RESTART_AFTER,
                "celery_skipped": skipped,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
    )
    print(f"results: {args.out}", file=sys.stderr)
