"""Is the worker's event loop turning? A stalled loop is the one way a worker can look alive while doing nothing.

Every activity, heartbeat and poll of a worker runs on one asyncio loop. Code that blocks it (a synchronous call
in an activity, a render that never yields) stalls them all: heartbeats stop, so every running job times out and
is retried elsewhere while the stalled one may still send; `conveyor cancel` is not even read. The process stays
up and `/metrics` (served by the SDK's own thread) keeps answering, so nothing showed it.

`LoopWatch` makes it visible two ways:
- a ticker on the loop wakes every `TICK` seconds and records how late it woke in the histogram
  `conveyor_event_loop_lag` (milliseconds) on the SDK's Prometheus endpoint: past stalls, long or short;
- a health check, `GET /healthz` on `CONVEYOR_METRICS_HOST:CONVEYOR_HEALTH_PORT`, served by a thread of its own so
  it answers while the loop is stuck: 503 once the loop has not ticked for `CONVEYOR_HEALTH_MAX_LAG_SECONDS`,
  200 again as soon as it ticks. A liveness probe pointed at it restarts a worker that stays stuck. Should C
  code hold the GIL outright, that thread cannot answer either: the probe's time-out then fails it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from conveyor.ports import PortBusy
from conveyor.settings import Settings

TICK = 0.1
"""Seconds between the ticker's wake-ups: lag is measured at this resolution, at ~10 cheap wake-ups a second."""

PATH = "/healthz"


class LoopWatch:
    """How late the event loop's ticks are, and whether it has been stuck for longer than `max_lag` seconds."""

    def __init__(self, max_lag: float, meter: MetricMeter = MetricMeter.noop) -> None:
        self.max_lag = max_lag
        self.lag = meter.create_histogram_timedelta(
            "conveyor_event_loop_lag", "How late the worker's event loop woke up, per 0.1 s tick.", unit="ms"
        )
        self.last_tick = time.monotonic()
        self.last_lag = 0.0

    async def tick(self) -> None:
        """Wake every `TICK` seconds for ever, recording how late each wake-up was."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.last_lag = max(0.0, now - before - TICK)
            self.last_tick = now
            self.lag.record(timedelta(seconds=self.last_lag))

    def stalled_for(self) -> float:
        """Seconds the loop is late by now: since the tick it owes (0 while it keeps time). Thread-safe."""
        return max(0.0, time.monotonic() - self.last_tick - TICK)

    def report(self) -> tuple[bool, dict[str, Any]]:
        """Healthy or not, and what `/healthz` says about it."""
        stalled = self.stalled_for()
        if stalled > self.max_lag:
            return False, {"status": "blocked", "blocked_seconds": round(stalled, 3), "max_lag_seconds": self.max_lag}
        lag = max(stalled, self.last_lag)
        return True, {"status": "ok", "loop_lag_seconds": round(lag, 4), "max_lag_seconds": self.max_lag}


def health_server(watch: LoopWatch, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server answering `GET /healthz` from `watch` (404 for anything else); `PortBusy` naming
    `CONVEYOR_HEALTH_PORT` if the port is taken. Not started: `serve_forever` it on a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == PATH:
                healthy, body = watch.report()
                status = 200 if healthy else 503
            else:
                status, body = 404, {"status": "not found"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a probe every few seconds is not worth a log line."""

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError:
        raise PortBusy(host, port, "CONVEYOR_HEALTH_PORT") from None
    server.daemon_threads = True
    return server


def worker_meter(runtime: Runtime | None) -> MetricMeter:
    """The meter of the runtime serving `/metrics` (`conveyor.telemetry.metrics_runtime`), a no-op one without."""
    return runtime.metric_meter if runtime is not None else MetricMeter.noop


@contextlib.asynccontextmanager
async def watching_loop(settings: Settings, meter: MetricMeter = MetricMeter.noop) -> AsyncIterator[LoopWatch]:
    """The running loop watched inside the block: its lag recorded on `meter`, and `/healthz` served on
    `metrics_host:health_port` (not served when `health_port` is 0)."""
    watch = LoopWatch(settings.health_max_lag_seconds, meter)
    server = health_server(watch, settings.metrics_host, settings.health_port) if settings.health_port else None
    ticker = asyncio.create_task(watch.tick())
    thread = None
    if server is not None:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
    try:
        yield watch
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        if server is not None and thread is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()
            thread.join()
