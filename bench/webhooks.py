"""Webhook cases: deliveries/s and enqueue → receiver latency against a raw standalone activity doing the same
httpx POST, and one event fanned out to 200 endpoints against the same 200 POSTs by raw httpx.

Each side runs on a fresh stack (dev server, worker process) and delivers to one loopback receiver in this
process, which notes when each delivery arrives (by `webhook-id`, or the raw body's id). Conveyor's side goes
through `Jobs.webhook` / `Jobs.webhook_event` (the endpoint's disabled-state check, signing, the SSRF-checked
pool); the endpoints are declared `allow_internal`, as the receiver is on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.figures import Row, Spread, percentile
from bench.harness import Sink, bench_settings, scratch, temporal, worker
from bench.raw import RAW_POST
from contracts.webhook import WebhookEndpoint
from conveyor import Jobs

SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()
CONVEYOR, RAW = "conveyor webhook", "raw standalone POST"


class Receiver:
    """A loopback HTTP/1.1 receiver answering 204, noting when each id first arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("webhook-id") or json.loads(body)["data"]["id"]
                receiver.arrived.setdefault(key, time.monotonic())
                receiver.count += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512  # 200 endpoints connect at once: the default backlog of 5 resets them

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Side:
    per_second: float
    latencies_ms: list[float]
    fan_out_s: float


def endpoints(url: str, count: int) -> dict[str, WebhookEndpoint]:
    return {
        f"e{i}": WebhookEndpoint.model_validate(
            {"url": f"{url}/e{i}", "secrets": [SECRET], "allow_internal": True, "events": ["bench.event"]}
        )
        for i in range(count)
    }


async def run_side(side: str, jobs: int, sequential: int, fan_out: int) -> Side:
    receiver = Receiver()
    try:
        with scratch() as home, Sink() as sink:
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            settings = bench_settings(
                home, sink.port, task_queue=queue, webhook_endpoints=endpoints(receiver.url, fan_out)
            )
            async with temporal(settings) as client:
                command = () if side == CONVEYOR else (sys.executable, "-m", "bench.raw")
                async with worker(client, settings, *command):
                    conveyor = Jobs(client, settings)

                    async def start(i: int) -> tuple[str, Any]:
                        payload = {"id": f"p{i}", "amount": i}
                        if side == CONVEYOR:
                            handle = await conveyor.webhook(
                                {"endpoint": "e0", "event_type": "bench.event", "payload": payload}
                            )
                            return handle.id, handle
                        body = json.dumps({"type": "bench.event", "timestamp": "now", "data": payload})
                        raw_handle = await client.start_activity(
                            RAW_POST, {"url": f"{receiver.url}/e0", "body": body}, id=f"raw-{uuid.uuid4().hex}",
                            task_queue=queue, start_to_close_timeout=timedelta(seconds=30),
                        )  # fmt: skip
                        return f"p{i}", raw_handle

                    began = time.monotonic()
                    started = await asyncio.gather(*(start(i) for i in range(jobs)))
                    await asyncio.gather(*(h.result() for _, h in started))
                    per_second = jobs / (time.monotonic() - began)
                    latencies: list[float] = []
                    for i in range(sequential):
                        began = time.monotonic()
                        key, handle = await start(jobs + i)
                        await handle.result()
                        latencies.append((receiver.arrived[key] - began) * 1000)
                    before = receiver.count
                    began = time.monotonic()
                    if side == CONVEYOR:
                        handles = await conveyor.webhook_event("bench.event", {"id": "fan"})
                        await asyncio.gather(*(h.result() for h in handles if not isinstance(h, Exception)))
                    else:
                        await raw_fan_out(receiver.url, fan_out)
                    fan_out_s = time.monotonic() - began
                    if receiver.count - before != fan_out:
                        raise RuntimeError(f"{side}: fan-out delivered {receiver.count - before} of {fan_out}")
        return Side(per_second, latencies, fan_out_s)
    finally:
        receiver.close()


async def raw_fan_out(url: str, count: int, concurrency: int = 50) -> None:
    """The same `count` POSTs by raw httpx, `concurrency` at once (Conveyor's bulk enqueue concurrency)."""
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient() as http:

        async def one(i: int) -> None:
            async with slots:
                body = json.dumps({"type": "bench.event", "data": {"id": f"fan{i}"}})
                (await http.post(f"{url}/e{i}", content=body)).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(count)))


async def measure(jobs: int, sequential: int, fan_out: int, reps: int) -> list[Row]:
    """The webhook rows over `reps` repetitions (the sides alternate)."""
    sides: dict[str, list[Side]] = {CONVEYOR: [], RAW: []}
    for rep in range(reps):
        for side in (CONVEYOR, RAW) if rep % 2 == 0 else (RAW, CONVEYOR):
            sides[side].append(await run_side(side, jobs, sequential, fan_out))
    ours, raw = sides[CONVEYOR], sides[RAW]

    def spread(of: Any, runs: list[Side]) -> Spread:
        return Spread([of(s) for s in runs])

    def rate(s: Side) -> float:
        return s.per_second

    def p50(s: Side) -> float:
        return percentile(s.latencies_ms, 50)

    def fan(s: Side) -> float:
        return s.fan_out_s

    trips = "per delivery: describe + start (producer), describe per endpoint per 5 s (worker), task + completion"
    return [
        Row(f"webhook deliveries/s ({jobs:,} at once)", "/s", spread(rate, ours), spread(rate, raw),
            "raw standalone POST", "≥ 0.85x", lambda r: (r.ratio or 0) >= 0.85),
        Row(f"enqueue → receiver p50 ({sequential} seq.)", "ms", spread(p50, ours), spread(p50, raw),
            "raw standalone POST", "≤ 1.2x", lambda r: (r.ratio or 99) <= 1.2),
        Row(f"one event → {fan_out} endpoints, all delivered", "s", spread(fan, ours), spread(fan, raw),
            "raw httpx, 50 at once", note=trips),
    ]  # fmt: skip
