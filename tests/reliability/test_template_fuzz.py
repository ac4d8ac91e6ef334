"""Fuzzing templates (tests/reliability/jinja_strategies.py): whatever a producer writes renders or fails as
`TemplateError`, the event loop that waits for the render processes is never held for 100 ms (its thread's CPU
time between two ticks of a 10 ms ticker), the worker's memory does not grow and each render process stays under
its memory limit. Drawn as tests/properties.py says: seeded unless `--random`."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import settings as examples

from activities import render_pool
from activities.render import render_text_async
from contracts.errors import TemplateError
from contracts.render_limits import RenderLimits
from tests import properties
from tests.loop_watch import watching_the_loop
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.jinja_strategies import CONTEXT, TEMPLATES
from tests.reliability.processes import rss_kb

LIMITS = RenderLimits(timeout=0.5, max_memory=256 * 2**20)
"""Short renders, so the hostile examples (each up to its deadline) keep the run to seconds."""
GROWTH_CAP_MB = 50
"""How much the worker (this process, whose loop awaits the renders) may grow over the whole fuzz run."""


def drawn(size: Size) -> list[str]:
    """The templates of this run: `size.fuzz_examples` of them, seeded unless `--random`."""
    templates: list[str] = []

    @examples(max_examples=properties.examples(size.fuzz_examples))
    @given(TEMPLATES)
    def draw(template: str) -> None:
        templates.append(template)

    draw()
    return templates


@pytest.fixture
async def own_render_processes() -> AsyncIterator[None]:
    """Render processes started for this test alone. One reused from an earlier test keeps that test's peak (VmHWM)
    from renders under a bigger memory limit, which this test would blame on its own renders (in a full run, after
    the hostile-template tests, the peak was 230 MB of the 256 MB limit before this test rendered anything)."""
    loop = asyncio.get_running_loop()
    earlier = render_pool._pools.pop(loop, None)
    yield
    ours = render_pool._pools.pop(loop, None)
    if earlier is not None:
        render_pool._pools[loop] = earlier
    for process in ours._idle if ours is not None else []:
        await process.kill()


async def test_templates_render_or_fail_typed_without_holding_the_loop_or_growing_the_worker(
    size: Size, own_render_processes: None
) -> None:
    templates = drawn(size)
    outcomes: Counter[str] = Counter()
    before_kb, _ = rss_kb(os.getpid())
    render_peaks: list[int] = []

    async def render(template: str) -> None:
        try:
            await render_text_async(template, CONTEXT, LIMITS)
            outcomes["rendered"] += 1
        except TemplateError as e:
            outcomes["over budget" if e.over_budget else "template error"] += 1
        for process in [*render_pool.shared().busy]:
            if process.process.returncode is None:
                render_peaks.append(rss_kb(process.process.pid)[1])

    async with watching_the_loop() as loop:
        for start in range(0, len(templates), 8):  # a few at a time, as a broadcast batch renders
            await asyncio.gather(*(render(t) for t in templates[start : start + 8]))
    after_kb, _ = rss_kb(os.getpid())
    growth_mb = (after_kb - before_kb) / 1024
    figures.record(
        "fuzz: templates", examples=len(templates), **{k.replace(" ", "_"): n for k, n in outcomes.items()},
        loop_held_max_ms=round(loop.held_cpu_s * 1000, 1), worker_rss_growth_mb=round(growth_mb, 1),
        render_process_peak_mb=max(render_peaks, default=0) // 1024, drawn=properties.mode(),
    )  # fmt: skip
    assert sum(outcomes.values()) == len(templates)  # nothing but a render or a TemplateError
    assert loop.held_cpu_s < 0.1, loop
    assert growth_mb < GROWTH_CAP_MB
    assert all(peak < LIMITS.max_memory // 1024 for peak in render_peaks)
    assert outcomes["rendered"] and outcomes["over budget"], outcomes  # the strategies reach both sides
