"""The BullMQ peer: Redis 7 + BullMQ + pooled nodemailer sending one job per email to the same sink.

Installed by `bench/peers/setup.sh` (not by CI); when node, redis-server or the npm packages are missing the
case is skipped with a notice saying what to run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from bench.harness import free_port, kill

PEERS = Path(__file__).parent / "peers"


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
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
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
    finally:
        kill(redis)
