"""A stalled worker is visible: its event-loop lag is a metric, and its health check fails while a job blocks the
loop, then recovers; `conveyor worker` serves it and `conveyor doctor` reports it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from conveyor import Settings
from conveyor.connection import connect
from conveyor.ports import PortBusy
from conveyor.telemetry import metrics_runtime
from tests.cli import start_worker, stop_worker
from tests.smtp_server import free_port
from tests.waiting import eventually
from worker.build import build_workers
from worker.doctor import Probe, Problem, health_url, run_check, worker, worker_answer
from worker.health import watching_loop, worker_meter
from worker.run import running

MAX_LAG = 0.5


def healthz(settings: Settings) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the worker's `/healthz`."""
    try:
        with urllib.request.urlopen(health_url(settings), timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def stalls(samples: dict[str, float]) -> float:
    """Wake-ups the lag histogram holds that came over 100 ms late. (Not "at least the threshold": `/healthz`
    counts from the loop's last tick, which may be a busy moment before the stall began, so it can answer 503
    for a stall the ticker then measures as somewhat shorter.)"""

    def bucket(le: str) -> float:
        return sum(
            v for k, v in samples.items() if k.startswith("conveyor_event_loop_lag_bucket") and f'le="{le}"' in k
        )

    return bucket("+Inf") - bucket("100")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line and line[0] != "#"}


async def answer(settings: Settings) -> tuple[int, dict[str, Any]]:
    """`healthz` from a thread (0 while nothing listens yet)."""
    try:
        return await asyncio.to_thread(healthz, settings)
    except urllib.error.URLError:
        return 0, {}


class Prober(threading.Thread):
    """Polls `/healthz` from outside the event loop (as a liveness probe does) once the stalling job has begun:
    every answer, in order, until it has seen the loop blocked (then sets `blocked`, which ends the stall) and then
    healthy again, or a minute passes. While the loop is blocked it also runs the doctor's check."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.stalling = threading.Event()
        self.blocked = threading.Event()
        self.doctor: Problem | None = None

    def run(self) -> None:
        if not self.stalling.wait(60):
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.answers.append(healthz(self.settings))
            if self.answers[-1][0] == 503 and not self.blocked.is_set():
                try:
                    worker_answer(self.settings)
                except Problem as e:
                    self.doctor = e
                self.blocked.set()
            elif self.blocked.is_set() and self.answers[-1][0] == 200:
                return
            threading.Event().wait(0.02)  # noqa: sleep-ok (the probe's period; it waits on the answers above)


async def test_a_job_blocking_the_loop_fails_the_health_check_until_it_returns(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"health_port": free_port(), "health_max_lag_seconds": MAX_LAG, "metrics_port": free_port()}
    )
    prober = Prober(settings)

    @activity.defn
    async def stall() -> None:
        prober.stalling.set()
        prober.blocked.wait(60)  # synchronous: the worker's event loop stops here until the probe has seen it

    runtime = metrics_runtime(settings)
    client = await connect(settings, runtime)
    queue = f"stall-{uuid.uuid4().hex}"
    stalling = Worker(client, task_queue=queue, activities=[stall])
    async with watching_loop(settings, worker_meter(runtime)), running([*build_workers(client, settings), stalling]):
        # Healthy first. (Under a loaded machine the loop itself may lag past 0.5 s for a moment as the workers
        # start: that is a real, short stall, so this waits for the loop to be turning rather than assuming it.)
        healthy = await eventually(lambda: run_check("Worker", worker, Probe(settings)), lambda r: r.ok)
        assert not healthy.warning and healthy.detail.startswith(f"{health_url(settings)}: event loop turning")
        _, body = await answer(settings)
        assert body["max_lag_seconds"] == MAX_LAG
        prober.start()
        await client.execute_activity(
            stall, id=f"stall-{uuid.uuid4()}", task_queue=queue, start_to_close_timeout=timedelta(seconds=90)
        )
        prober.join(60)
        # The ticker records the stall when the loop turns again: read the histogram once it has.
        samples = await eventually(lambda: asyncio.to_thread(scrape, settings.metrics_port), lambda s: stalls(s) >= 1)
    statuses = [s for s, _ in prober.answers]
    assert 503 in statuses and statuses[-1] == 200, statuses
    blocked = next(b for s, b in prober.answers if s == 503)
    assert blocked["status"] == "blocked" and blocked["blocked_seconds"] > MAX_LAG
    assert prober.doctor is not None and "the worker's event loop has not turned for" in prober.doctor.detail
    assert f"CONVEYOR_HEALTH_MAX_LAG_SECONDS={MAX_LAG:g}" in prober.doctor.detail
    assert stalls(samples) >= 1, "the stall is in the lag histogram"


async def test_conveyor_worker_serves_its_health_check(settings: Settings) -> None:
    settings = settings.model_copy(update={"health_port": free_port(), "metrics_port": free_port()})
    proc = await start_worker(settings)
    try:
        _, body = await eventually(lambda: answer(settings), lambda answer: answer[0] == 200, timeout=60)
        assert body["status"] == "ok" and body["max_lag_seconds"] == 5.0
        samples = await eventually(
            lambda: asyncio.to_thread(scrape, settings.metrics_port),
            lambda found: any(k.startswith("conveyor_event_loop_lag") for k in found),
        )
        assert sum(v for k, v in samples.items() if k.startswith("conveyor_event_loop_lag_count")) > 0
    finally:
        await stop_worker(proc)


async def test_no_worker_is_a_doctor_warning_and_a_taken_port_names_the_setting(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = await run_check("Worker", worker, Probe(settings.model_copy(update={"health_port": port})))
        assert result.ok and result.warning and f"no worker answers at http://127.0.0.1:{port}/healthz" in result.detail
        taken.listen()
        with pytest.raises(PortBusy) as busy:
            async with watching_loop(settings.model_copy(update={"health_port": port})):
                pass
    assert str(busy.value) == f"port {port} on 127.0.0.1 is in use; set CONVEYOR_HEALTH_PORT to use another"
