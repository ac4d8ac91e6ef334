"""The jobs page's overview with N jobs in the namespace, against `Jobs.stats()` (the counts it shows) on the same
server: what the page adds to the counts (the workers per queue, the HTML). The jobs are N email jobs enqueued
with `Jobs.bulk` on a queue no worker polls, so all of them are open and due — the costly case for the counts:
the server counts them, and the newest `CONVEYOR_STATS_OPEN_LIMIT` are described one by one to tell queued from
running. Measured once visibility lists all of them.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from bench.bulk import conveyor_bulk
from bench.figures import Row, Spread
from bench.harness import bench_settings, scratch, temporal
from conveyor.client import Jobs
from conveyor.http import create_app, serving

KEY = "bench-jobs-page-key-4f1d9a7c"


async def visible(client: Client, count: int, timeout: float = 600) -> None:
    """Wait until visibility lists all `count` jobs as open: the server indexes them a while after it accepted them
    (minutes, for 10,000 on a loaded machine), and a page read meanwhile measures that backlog, not the page."""
    deadline = time.monotonic() + timeout
    while (await client.count_activities("ExecutionStatus = 'Running'")).count < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"visibility did not list {count:,} open jobs within {timeout:.0f} s")
        await asyncio.sleep(1)  # a bench waiting on the server's indexing: no event to wait on


async def measure(count: int, reps: int) -> list[Row]:
    """The overview row: seconds per `GET /ui` (logged in) and per `Jobs.stats()`, alternating, `reps` each."""
    with scratch() as home:
        settings = bench_settings(home, 25, task_queue=f"bench-{uuid.uuid4().hex[:8]}", api_keys=[SecretStr(KEY)])
        async with temporal(settings) as client:
            await conveyor_bulk(client, settings, count)
            await visible(client, count)
            jobs = Jobs(client, settings)
            page, stats = Spread([]), Spread([])
            url = f"http://{settings.api_host}:{settings.api_port}"
            async with serving(create_app(settings), settings), httpx.AsyncClient(base_url=url, timeout=60) as http:
                logged_in = await http.post("/ui/login", data={"key": KEY})
                if logged_in.status_code != 303:
                    raise RuntimeError(f"log-in refused: {logged_in.status_code}")
                for _ in range(reps):
                    began = time.monotonic()
                    shown = await http.get("/ui")
                    page.values.append(time.monotonic() - began)
                    if shown.status_code != 200 or 'id="counts"' not in shown.text:
                        raise RuntimeError(f"the overview answered {shown.status_code}")
                    began = time.monotonic()
                    await jobs.stats()
                    stats.values.append(time.monotonic() - began)
    return [
        Row(f"jobs page overview, {count:,} open jobs", "s", page, stats, "Jobs.stats()", "≤ 1 s",
            lambda r: r.conveyor.median <= 1.0),
    ]  # fmt: skip
