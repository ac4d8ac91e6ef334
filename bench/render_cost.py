"""What a render process costs an email: the email job's built-in template (`welcome`) rendered through the render
pool (a round trip to a render process, as jobs render) against the same render in process, on the calling
thread (as renders ran on the event loop before render processes).

    python -m bench.render_cost [--renders 2000] [--runs 3]    # alone; `python -m bench` runs it as a case

Informational: the email job's throughput rows are the targets; this says what share of a job the pool takes.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from activities.render import TemplateRenderer
from bench.figures import Row, Spread

CONTEXT = {"name": "Reader 1"}


async def per_render_us(renders: int) -> tuple[float, float, float]:
    """(µs per render through the pool, µs per render in process, µs of this process's own CPU per render through
    the pool), after a warm-up of each. The last is what a render costs the worker's event loop now: on a busy
    machine the round trip's wall time is mostly the wait for the render process to get a core."""
    renderer = TemplateRenderer()
    for _ in range(20):  # start the processes, compile the template in each
        await asyncio.gather(renderer.render_async("welcome", CONTEXT), renderer.render_async("welcome", CONTEXT))
        renderer.render("welcome", CONTEXT)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(renders):
        await renderer.render_async("welcome", CONTEXT)
    pooled = (time.perf_counter() - began) / renders * 1e6
    own_cpu = (time.process_time() - cpu) / renders * 1e6
    began = time.perf_counter()
    for _ in range(renders):
        renderer.render("welcome", CONTEXT)
    in_process = (time.perf_counter() - began) / renders * 1e6
    return pooled, in_process, own_cpu


async def measure(renders: int, reps: int) -> list[Row]:
    """The row: µs per render in a render process against in process, median over `reps` runs."""
    runs = [await per_render_us(renders) for _ in range(reps)]
    own = Spread([c for _, _, c in runs])
    return [
        Row(f"email template render, per render ({renders:,} seq.)", "µs", Spread([p for p, _, _ in runs]),
            Spread([i for _, i, _ in runs]), "in process", "informational",
            note=f"worker's own CPU per render {own.show('µs')}", extra={"worker_cpu_us": own.median}),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    [row] = asyncio.run(measure(args.renders, args.runs))
    print(f"{row.case}: {row.conveyor.show('µs')} in a render process, {row.baseline and row.baseline.show('µs')} "
          f"in process ({row.ratio:.2f}x); {row.note}")  # fmt: skip


if __name__ == "__main__":
    main()
