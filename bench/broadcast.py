"""Broadcast cases: Conveyor's `Broadcast` of N recipients against raw aiosmtplib over 10 reused connections,
and against the peers: BullMQ (one job per email) and Celery (a task per batch of 100, as a Celery user would
chunk it), all sending to the same kind of sink.

Conveyor's figure runs from enqueue to the job's result, with the worker already polling (its start-up is the
footprint case's business); the baselines time their sending only, also without process start-up.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench import peer
from bench.figures import Row, Spread
from bench.harness import ROOT, Sink, bench_settings, scratch, temporal, worker, worker_env
from conveyor import Jobs


def recipients_csv(path: Path, count: int) -> Path:
    """A CSV source of `count` recipients with names (the newsletter greets each by name)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "name"])
        writer.writerows([f"reader{i}@example.com", f"Reader {i}"] for i in range(count))
    return path


async def conveyor_rate(count: int) -> float:
    """Emails/s of one `Broadcast` to `count` recipients, on a fresh stack with a `conveyor worker` process."""
    with scratch() as home, Sink() as sink:
        settings = bench_settings(home, sink.port, task_queue=f"bench-{uuid.uuid4().hex[:8]}")
        settings.readable_dir.mkdir(parents=True)
        source = recipients_csv(settings.readable_dir / "recipients.csv", count)  # where the worker may read
        async with temporal(settings) as client, worker(client, settings):
            began = time.monotonic()
            handle = await Jobs(client, settings).broadcast(
                {"source": f"csv:{source}", "message": {"template": "newsletter"}}
            )
            result = await handle.result()
            seconds = time.monotonic() - began
    if result.sent != count or sink.count != count:
        raise RuntimeError(f"broadcast sent {result.sent}, sink received {sink.count}, expected {count}")
    return count / seconds


async def aiosmtplib_rate(count: int, timeout: float) -> float:
    """Emails/s of `bench.smtp_baseline` (its own process) sending `count` messages to a fresh sink."""
    with scratch() as home, Sink() as sink:
        command = [sys.executable, "-m", "bench.smtp_baseline", "--port", str(sink.port), "--count", str(count)]
        env = worker_env(bench_settings(home, sink.port))
        ran = await asyncio.to_thread(
            subprocess.run, command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if ran.returncode != 0 or sink.count != count:
            raise RuntimeError(f"aiosmtplib baseline: exit {ran.returncode}, {sink.count}/{count}: {ran.stderr}")
    return count / float(json.loads(ran.stdout)["seconds"])


async def bullmq_rate(count: int, timeout: float) -> float:
    """Emails/s of the BullMQ peer sending `count` messages to a fresh sink."""
    with Sink() as sink:
        seconds = await asyncio.to_thread(peer.bullmq_seconds, sink.port, count, timeout)
        if sink.count != count:
            raise RuntimeError(f"BullMQ peer: the sink received {sink.count} of {count}")
    return count / seconds


async def celery_rate(count: int, timeout: float) -> float:
    """Emails/s of the Celery peer's broadcast of `count` messages to a fresh sink."""
    with Sink() as sink:
        ran = await asyncio.to_thread(peer.celery_run, "broadcast", sink.port, count, 0, timeout)
        if sink.count < count:
            raise RuntimeError(f"Celery peer: the sink received {sink.count} of {count}")
    return count / ran.seconds


async def measure(count: int, reps: int, with_peer: bool, timeout: float) -> list[Row]:
    """The broadcast and peer rows over `reps` repetitions, the three senders interleaved in each."""
    skipped = None if with_peer else "skipped (--quick)"
    celery_skipped = skipped or peer.celery_missing()
    skipped = skipped or peer.missing()
    ours, raw, bull, celery = Spread([]), Spread([]), Spread([]), Spread([])
    for _ in range(reps):
        ours.values.append(await conveyor_rate(count))
        raw.values.append(await aiosmtplib_rate(count, timeout))
        if skipped is None:
            bull.values.append(await bullmq_rate(count, timeout))
        if celery_skipped is None:
            celery.values.append(await celery_rate(count, timeout))
    if skipped:
        print(f"notice: BullMQ peer {skipped}", file=sys.stderr)
    if celery_skipped:
        print(f"notice: Celery peer {celery_skipped}", file=sys.stderr)
    return [
        Row(f"broadcast emails/s ({count:,} recipients)", "/s", ours, raw, "aiosmtplib, 10 conn.",
            "≥ 400/s, ≥ 0.9x", lambda r: r.conveyor.median >= 400 and (r.ratio or 0) >= 0.9),
        Row(f"peer: broadcast vs BullMQ ({count:,} emails)", "/s", ours, None if skipped else bull,
            "BullMQ+nodemailer", "≥ 5x", None if skipped else lambda r: (r.ratio or 0) >= 5.0,
            note=skipped or ""),
        Row(f"peer: broadcast vs Celery ({count:,} emails)", "/s", ours, None if celery_skipped else celery,
            "Celery 5 + Redis", "≥ 1.1x", None if celery_skipped else lambda r: (r.ratio or 0) >= 1.1,
            note=celery_skipped or ""),
    ]  # fmt: skip
