"""Broadcast throughput: N recipients from a CSV file to a local aiosmtpd sink, on a real Temporal dev server.

    .venv/bin/python bench/broadcast.py [--recipients 10000] [--pool 10] [--batch 100] [--parallel 8]

Prints one table row: what was sent, how long it took from enqueue to result, and emails per second. Everything
runs on this machine (dev server in memory, the worker in this process, the sink in a thread), with a time-out,
since a benchmark must never hang.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, Settings
from tests.smtp_server import free_port
from worker.build import build_workers
from worker.run import running


class Sink:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += len(envelope.rcpt_tos)
        return "250 OK"


async def bench(recipients: int, pool: int, batch: int, parallel: int, timeout: float) -> dict[str, Any]:
    """One broadcast of `recipients`; its numbers."""
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipients.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["email", "name"])
            writer.writerows([f"reader{i}@example.com", f"Reader {i}"] for i in range(recipients))
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sysconfig.get_path("scripts")) / "temporal"),
            data_converter=pydantic_data_converter,
        )
        try:
            settings = Settings(
                temporal_address=env.client.service_client.config.target_host,
                task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                smtp_port=port,
                smtp_pool_size=pool,
                search_attributes=False,
                home=Path(tmp) / "home",
            )
            async with running(build_workers(env.client, settings)):
                jobs = Jobs(env.client, settings)
                started = time.monotonic()
                handle = await jobs.broadcast(
                    {"source": f"csv:{path}", "message": {"template": "newsletter"}, "batch_size": batch,
                     "parallel_batches": parallel},
                )  # fmt: skip
                result = await asyncio.wait_for(handle.result(), timeout)
                seconds = time.monotonic() - started
        finally:
            await env.shutdown()
            controller.stop()
    return {
        "recipients": recipients,
        "sent": result.sent,
        "received": sink.count,
        "pool": pool,
        "batch": batch,
        "parallel": parallel,
        "seconds": round(seconds, 2),
        "emails/s": round(result.sent / seconds),
    }


def main() -> None:
    """Parse the options, run once, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    row = asyncio.run(bench(args.recipients, args.pool, args.batch, args.parallel, args.timeout))
    print(" | ".join(f"{k:>10}" for k in row))
    print(" | ".join(f"{v!s:>10}" for v in row.values()))


if __name__ == "__main__":
    main()
