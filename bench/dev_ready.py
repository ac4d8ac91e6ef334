"""`conveyor dev` ready: from spawning the process to an email job accepted (enqueued), as a user starting the
stack and sending a first job sees it. The time to that job's delivery to the dev outbox is kept beside it."""

from __future__ import annotations

import asyncio
import time

from bench.figures import Row, Spread
from bench.harness import BIN, bench_settings, free_port, kill, scratch, spawn
from conveyor import Jobs
from conveyor.errors import TemporalUnavailable


async def once(timeout: float) -> tuple[float, float]:
    """(seconds to the job accepted, seconds to it delivered) from `conveyor dev`'s spawn."""
    with scratch() as home:
        settings = bench_settings(home, free_port())
        began = time.monotonic()
        with (home / "dev.log").open("ab") as log:
            proc = spawn([str(BIN / "conveyor"), "dev"], settings, log)
        try:
            while True:  # polling the real thing a user would do, with a deadline
                try:
                    handle = await (await Jobs.connect(settings)).email(
                        {"to": ["ann@example.com"], "template": "welcome", "context": {"name": "Ann"}}
                    )
                    break
                except TemporalUnavailable:
                    if proc.poll() is not None:
                        tail = (home / "dev.log").read_text(errors="replace").strip().splitlines()[-3:]
                        raise RuntimeError(f"conveyor dev exited {proc.returncode}: {' / '.join(tail)}") from None
                    if time.monotonic() - began > timeout:
                        raise
                    await asyncio.sleep(0.02)
            accepted = time.monotonic() - began
            await asyncio.wait_for(handle.result(), timeout)
            return accepted, time.monotonic() - began
        finally:
            kill(proc)


async def measure(reps: int, timeout: float) -> list[Row]:
    """The dev-ready row over `reps` cold starts."""
    runs = [await once(timeout) for _ in range(reps)]
    delivered = Spread([d for _, d in runs])
    return [
        Row("`conveyor dev` start → job accepted", "s", Spread([a for a, _ in runs]), target="≤ 1.5 s",
            check=lambda r: r.conveyor.median <= 1.5, note=f"delivered: {delivered.show('s')}",
            extra={"delivered_s": delivered.values}),
    ]  # fmt: skip
