"""The peers: BullMQ (Redis 7 + BullMQ + pooled nodemailer, one job per email) and Celery 5 + Redis (prefork,
2 processes, `acks_late`: `peers/celery_app.py`), sending to the same sink.

Installed by `bench/peers/setup.sh` (not by CI); when node, redis-server, the npm packages or the Celery
virtualenv are missing, the case is skipped with a notice saying what to run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.harness import free_port, kill

PEERS = Path(__file__).parent / "peers"
CELERY_PYTHON = PEERS / "celery-venv" / "bin" / "python"

ON_CRASH = {
    "Conveyor": "jobs live in Temporal's database: a killed worker's job is retried on another after its "
    "heartbeat timeout (10 s); a restarted server loses nothing it acknowledged; an email may be re-sent once, "
    "with the same Message-ID",
    "Celery": "acks_late: a task whose worker process dies is redelivered, but only after Redis's "
    "visibility_timeout (1 h by default); Redis as run here (no RDB/AOF) loses every queued task when it dies; "
    "a failed send is retried 3 times with backoff (autoretry_for, retry_backoff), then dropped",
    "BullMQ": "a job whose worker died is moved back to waiting after stalledInterval (30 s), once "
    "(maxStalledCount 1), then failed; Redis as run here (no AOF) loses every queued job when it dies",
}
"""What each side guarantees when a process crashes, as configured in the bench (printed under the table)."""


def missing() -> str | None:
    """Why the peer cannot run here, or None."""
    for tool in ("node", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} not installed: run bench/peers/setup.sh"
    if not (PEERS / "node_modules" / "bullmq").is_dir():
        return "bullmq not installed: run bench/peers/setup.sh"
    return None


def bullmq_seconds(sink_port: int, count: int, timeout: float) -> float:
    """Seconds BullMQ takes to send `count` emails to the sink, on a redis-server of its own."""
    with redis_server() as port:
        env = os.environ | {"REDIS_PORT": str(port), "SMTP_PORT": str(sink_port), "COUNT": str(count)}
        ran = subprocess.run(
            ["node", str(PEERS / "bullmq_send.mjs")], env=env, capture_output=True, text=True, timeout=timeout
        )
        if ran.returncode != 0:
            raise RuntimeError(f"BullMQ peer failed ({ran.returncode}): {ran.stderr[-500:]}")
        out = json.loads(ran.stdout.strip().splitlines()[-1])
        if out["sent"] != count:
            raise RuntimeError(f"BullMQ peer sent {out['sent']} of {count}")
        return float(out["seconds"])


def celery_missing() -> str | None:
    """Why the Celery peer cannot run here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server not installed: run bench/peers/setup.sh"
    if not CELERY_PYTHON.exists():
        return "the Celery virtualenv is missing: run bench/peers/setup.sh"
    return None


def redis_command(port: int, aof_dir: Path | None = None) -> list[str]:
    """redis-server on `port`: without persistence (no RDB snapshots, no AOF), as the peers run it; or, with
    `aof_dir`, with its append-only file there, fsynced every second (Redis's advised durable setting)."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    if aof_dir is None:
        return [*command, "--appendonly", "no"]
    return [*command, "--dir", str(aof_dir), "--appendonly", "yes", "--appendfsync", "everysec"]


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A throwaway redis-server on a free port (no persistence, as the BullMQ peer runs it); yields the port."""
    port = free_port()
    redis = subprocess.Popen(
        redis_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        kill(redis)


@dataclass(frozen=True)
class CeleryRun:
    """What the Celery producer measured: seconds for the burst, and enqueue → result of sequential jobs."""

    seconds: float
    latencies_ms: list[float]


def celery_run(mode: str, sink_port: int, count: int, sequential: int, timeout: float) -> CeleryRun:
    """Run `peers/celery_send.py` (`email` jobs or a `broadcast`) against a Celery worker (prefork, 2 processes)
    and a redis-server of their own."""
    with redis_server() as port:
        env = os.environ | {"REDIS_PORT": str(port), "SMTP_PORT": str(sink_port)}
        celery = [str(CELERY_PYTHON), "-m", "celery", "-A", "celery_app"]
        worker = subprocess.Popen(
            [*celery, "worker", "--pool=prefork", "--concurrency=2", "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=PEERS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            ran = subprocess.run(
                [str(CELERY_PYTHON), "celery_send.py", mode, str(count), str(sequential)],
                cwd=PEERS, env=env, capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
        finally:
            kill(worker)
        if ran.returncode != 0:
            raise RuntimeError(f"Celery peer failed ({ran.returncode}): {ran.stderr[-500:]}")
        out = json.loads(ran.stdout.strip().splitlines()[-1])
        if out["sent"] != count + sequential:
            raise RuntimeError(f"Celery peer sent {out['sent']} of {count + sequential}")
        return CeleryRun(float(out["seconds"]), [float(v) for v in out["latencies_ms"]])
