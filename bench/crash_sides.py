"""The stacks `python -m bench crash` runs its scenarios on, one fresh stack per run: Conveyor (a dev server on its
file database, as `conveyor dev` runs it, and a `conveyor worker`), the Celery peer (a redis-server, without
persistence or with AOF every second, and a Celery 5 worker as `bench/peers/celery_app.py` runs it) and the BullMQ
peer (a redis-server without persistence and `bench/peers/bullmq_crash.mjs`).

Each stack says which of the jobs not delivered its broker or server still holds at the end: those its own recovery
will still run (Conveyor: the email job's retry policy; Celery: Redis's `visibility_timeout`, 1 h by default, for a
task whose worker died; BullMQ: its stalled-job check), the others are missing for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench import peer
from bench.crash_parts import RECIPIENT, RecordingSink, Restartable, recipient
from bench.harness import BIN, ROOT, bench_settings, free_port, pollers_ready, scratch, worker_env
from conveyor import Jobs
from conveyor.client import BulkJob, JobHandle
from conveyor.dev.stack import start_server, wait_for_server
from conveyor.settings import Settings


@dataclass
class Stack:
    """One side's running stack: its sink, its worker and its broker or server, each of which a fault breaks."""

    side: str
    jobs: int
    sink: RecordingSink
    worker: Restartable
    server: Restartable

    async def enqueue(self) -> None:
        """Enqueue the jobs, with no worker running yet (returns once every one is accepted)."""
        raise NotImplementedError

    async def start_worker(self) -> None:
        """Start the worker (returns once it takes jobs, where that can be told)."""
        self.worker.start()

    async def server_back(self) -> None:
        """After a restart of the broker or server: once it answers again."""

    async def settle(self, timeout: float) -> None:
        """After every job was delivered: wait (at most `timeout` s) for jobs that may still send again to end."""

    async def held(self, missing: set[int]) -> int:
        """How many of the `missing` jobs the broker or server still holds (its recovery will still run them)."""
        raise NotImplementedError


def welcome(i: int) -> dict[str, Any]:
    return {"to": [recipient(i)], "template": "welcome", "context": {"name": f"Reader {i}"}}


@dataclass
class ConveyorStack(Stack):
    settings: Settings = field(kw_only=True)
    client: Client = field(kw_only=True)
    ids: list[str] = field(default_factory=list)

    async def enqueue(self) -> None:
        items = [BulkJob("email", welcome(i)) for i in range(self.jobs)]
        self.ids = [h.id for h in await Jobs(self.client, self.settings).bulk(items) if isinstance(h, JobHandle)]
        if len(self.ids) != self.jobs:
            raise RuntimeError(f"{len(self.ids)} of {self.jobs} jobs enqueued")

    async def start_worker(self) -> None:
        self.worker.start()
        try:
            await pollers_ready(self.client, self.settings.task_queue, timeout=120)
        except TimeoutError as e:  # say why: the worker's own last words
            tail = (self.settings.home / "worker.log").read_text(errors="replace")[-2000:]
            raise TimeoutError(f"{e}; its log ends:\n{tail}") from None

    async def server_back(self) -> None:
        assert self.server.proc is not None
        self.client = await wait_for_server(self.settings, self.server.proc)  # the old connection died with it

    async def settle(self, timeout: float) -> None:
        """Every job's own end: once each has a result, no retry is left to send again."""
        jobs = Jobs(self.client, self.settings)
        ended = asyncio.gather(*(jobs.result(i) for i in self.ids), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended, timeout)

    async def held(self, missing: set[int]) -> int:
        jobs = Jobs(self.client, self.settings)
        states = await asyncio.gather(*(jobs.status(self.ids[i]) for i in missing))
        return sum(s.state.open for s in states)


@contextlib.asynccontextmanager
async def conveyor(jobs: int) -> AsyncIterator[Stack]:
    with scratch() as home, RecordingSink() as sink, (home / "worker.log").open("ab") as log:
        settings = bench_settings(home, sink.port, task_queue=f"crash-{uuid.uuid4().hex[:8]}")
        command, env = [str(BIN / "conveyor"), "worker"], worker_env(settings)

        def launch_worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        with Restartable(lambda: start_server(settings)) as server, Restartable(launch_worker) as worker:
            client = await wait_for_server(settings, server.start())
            yield ConveyorStack("Conveyor", jobs, sink, worker, server, settings=settings, client=client)


@dataclass
class CeleryStack(Stack):
    env: dict[str, str] = field(kw_only=True)

    async def enqueue(self) -> None:
        """The peer's producer enqueues without waiting for results: the sink tells what arrived."""
        produce = await asyncio.create_subprocess_exec(
            str(peer.CELERY_PYTHON), "celery_send.py", "enqueue", str(self.jobs),
            cwd=peer.PEERS, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(produce.communicate(), 120)
        if produce.returncode != 0:
            raise RuntimeError(f"Celery producer failed ({produce.returncode}): {err.decode()[-500:]}")

    async def held(self, missing: set[int]) -> int:
        """The tasks still in Redis: waiting in the queue, or unacknowledged (held by a worker, alive or dead; a
        dead one's come back after `visibility_timeout`)."""
        return await in_redis(self.env["REDIS_PORT"], missing, ["LRANGE", "celery", "0", "-1"], ["HVALS", "unacked"])


async def in_redis(port: str, missing: set[int], *reads: list[str]) -> int:
    """How many of the `missing` jobs' recipients appear in what the redis-cli `reads` return."""
    stored = ""
    for command in reads:
        ran = await asyncio.create_subprocess_exec(
            "redis-cli", "-p", port, "--raw", *command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        stored += (await ran.communicate())[0].decode(errors="replace")
    return len(missing & {int(i) for i in RECIPIENT.findall(stored)})


@contextlib.asynccontextmanager
async def celery(jobs: int, aof: bool) -> AsyncIterator[Stack]:
    with scratch() as home, RecordingSink() as sink, (home / "celery.log").open("ab") as log:
        port = free_port()
        env = os.environ | {"REDIS_PORT": str(port), "SMTP_PORT": str(sink.port)}
        command = [str(peer.CELERY_PYTHON), "-m", "celery", "-A", "celery_app", "worker", "--pool=prefork",
                   "--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"]  # fmt: skip

        def launch(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        redis = peer.redis_command(port, home if aof else None)
        with Restartable(lambda: launch(redis, home)) as server, Restartable(lambda: launch(command, peer.PEERS)) as w:
            server.start()
            side = "Celery 5 + Redis (AOF everysec)" if aof else "Celery 5 + Redis"
            yield CeleryStack(side, jobs, sink, w, server, env=env)


@dataclass
class BullmqStack(Stack):
    env: dict[str, str] = field(kw_only=True)

    async def enqueue(self) -> None:
        produce = await asyncio.create_subprocess_exec(
            "node", "bullmq_crash.mjs", "enqueue",
            cwd=peer.PEERS, env=self.env | {"COUNT": str(self.jobs)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(produce.communicate(), 120)
        if produce.returncode != 0:
            raise RuntimeError(f"BullMQ producer failed ({produce.returncode}): {err.decode()[-500:]}")

    async def held(self, missing: set[int]) -> int:
        """The jobs still in Redis waiting, active (a dead worker's come back after the stalled-job check), or
        delayed for a retry; a job id is its recipient."""
        queue = "bull:crash"
        lists = [["LRANGE", f"{queue}:{name}", "0", "-1"] for name in ("wait", "active", "paused")]
        sets = [["ZRANGE", f"{queue}:{name}", "0", "-1"] for name in ("delayed", "prioritized")]
        return await in_redis(self.env["REDIS_PORT"], missing, *lists, *sets)


@contextlib.asynccontextmanager
async def bullmq(jobs: int) -> AsyncIterator[Stack]:
    with scratch() as home, RecordingSink() as sink, (home / "bullmq.log").open("ab") as log:
        port = free_port()
        env = os.environ | {"REDIS_PORT": str(port), "SMTP_PORT": str(sink.port)}

        def launch(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        redis, worker = peer.redis_command(port), ["node", "bullmq_crash.mjs", "worker"]
        with Restartable(lambda: launch(redis, home)) as server, Restartable(lambda: launch(worker, peer.PEERS)) as w:
            server.start()
            yield BullmqStack("BullMQ + Redis", jobs, sink, w, server, env=env)
