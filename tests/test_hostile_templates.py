"""Templates from producers cannot starve a worker: every render runs in a render process the event loop only
waits on, and a hostile one fails its recipient for good, quickly, with a `TemplateError` (the reliability suite's
`test_hostile_input` and `test_render_isolation` measure the same end to end, against a `conveyor worker`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities import render_pool
from activities.render import STRIKES, render_text, render_text_async
from contracts.errors import TemplateError
from contracts.render_limits import RenderLimits
from contracts.templates import check_syntax
from conveyor import Jobs, JobState
from tests.conftest import settings_for
from tests.loop_watch import watching_the_loop
from tests.smtp_server import SmtpServer
from tests.test_broadcast_sms import customers_csv, texted
from tests.waiting import eventually
from worker.build import build_workers
from worker.run import running

HOSTILE = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(8000) %}{% endfor %}{% endfor %}",
    "one range iterated twice": "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
    "string multiplication": "{{ 'x' * 50000000 }}",
    "huge power": "{{ 9 ** 999999 }}",
    "squaring in a loop": "{% set n = namespace(x=3) %}{% for i in range(40) %}{% set n.x = n.x * n.x %}{% endfor %}",
    "padding filter": "{{ 'x'|center(100000000) }}",
    "padding method": "{{ 'x'.ljust(100000000) }}",
    "format width": "{{ '%0100000000d' % 1 }}",
    "str.format width": "{{ '{:>100000000}'.format(1) }}",
    "replace between every character": "{{ ('a' * 1000)|replace('', 'b' * 1000) }}",
    "lipsum": "{{ lipsum(n=10000000) }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "recursive loop": "{% for x in [1] recursive %}{{ loop([1, 2]) }}{% endfor %}",
    "division by zero": "{{ 1/0 }}",
    "range too long": "{{ range(200000) }}",
    "slow sums": "{% for i in range(100000) %}{{ range(100000)|sum }}{% endfor %}",
    # One filter call over a million characters (13.7 s on the worker's loop before render processes).
    "wordwrap(1)": "{{ ('x' * 999999)|wordwrap(1)|length }}",
    "doubling with ~": "{% set ns = namespace(s='x' * 999999) %}{% for i in range(8) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s='x' * 999999) %}{% for i in range(8) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "joined references": "{{ (['x' * 999999] * 999999)|join|length }}",
    "repeated format field": "{{ ('{0}' * 300).format('x' * 999999)|length }}",
    "repeated % field": "{{ ('%(a)s' * 300) % {'a': 'x' * 999999} }}",
    "expandtabs": "{{ ('\t' * 999999).expandtabs(300)|length }}",
    "list.extend": "{% set l = ['x'] * 999999 %}{% for i in range(9) %}{{ l.extend(l) }}{% endfor %}{{ l|length }}",
    "indent of many lines": "{{ ('\n' * 999999)|indent(300)|length }}",
    "text of a list of references": "{{ ['x' * 999999] * 999999 }}",
    "memory the sandbox cannot see": "{{ (['a'] * 999999)|map('center', 999999)|list|length }}",
}
NOT_OVER_BUDGET = {"division by zero", "range too long"}
"""Hostile cases that fail as the template's own error: cheap, so no strike against the template."""


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_template_fails_fast_without_holding_the_loop(name: str) -> None:
    limits = RenderLimits(timeout=1.0)
    # Both render processes started (a hostile render before may have had one killed): this test times a render,
    # not a render process's start, which takes seconds on a loaded machine.
    await asyncio.gather(*(render_text_async("ready", {}, limits) for _ in range(render_pool.PROCESSES)))
    started = time.monotonic()
    async with watching_the_loop() as loop:
        with pytest.raises(TemplateError) as failed:
            # A template of this test's own: a broadcast remembers templates that went over budget (other tests
            # render the same hostile sources), and this test is about one render's budget, not that memory.
            await render_text_async(HOSTILE[name] + f"{{# {uuid.uuid4()} #}}", {}, limits)
    took = time.monotonic() - started
    assert took < 2 * limits.timeout + 5, "stopped by its budget, not run to its end (21 s unbounded)"
    assert failed.value.permanent and str(failed.value).startswith(("text template", "rendering took over"))
    assert failed.value.over_budget is (name not in NOT_OVER_BUDGET), failed.value
    # The render ran in a render process: the loop's thread never spent 100 ms of CPU between two ticks.
    assert loop.held_cpu_s < 0.1, loop


async def test_a_value_too_big_for_the_render_process_is_a_template_error() -> None:
    """What the sandbox cannot measure before it is built (a list of a million padded strings) meets the
    operating system's limit on the render process: a `MemoryError` there, a `TemplateError` over budget here."""
    limits = RenderLimits(timeout=60, max_memory=256 * 2**20)
    with pytest.raises(TemplateError, match="memory") as failed:
        await render_text_async(HOSTILE["memory the sandbox cannot see"], {}, limits)
    assert failed.value.over_budget
    assert await render_text_async("Hi {{ name }}", {"name": "Ann"}, limits) == "Hi Ann"  # a fresh process


SLOW_FOR_SOME = "{% for i in range(loops) %}{% set total = range(100000)|sum %}{% endfor %}Hi {{ name }}"
"""A legitimate template whose cost depends on its data: over budget for a big `loops`, instant for 0."""


async def test_strikes_stay_with_their_broadcast_so_the_template_still_renders_for_other_jobs() -> None:
    limits = RenderLimits(timeout=0.2)
    source = SLOW_FOR_SOME + f"{{# {uuid.uuid4()} #}}"
    heavy, light = {"loops": 100000, "name": "Ann"}, {"loops": 0, "name": "Ann"}
    for _ in range(STRIKES):
        with pytest.raises(TemplateError, match=r"rendering took over|render budget"):
            await render_text_async(source, heavy, limits, broadcast="b-struck")
    with pytest.raises(TemplateError, match="in a row; not tried again"):
        await render_text_async(source, light, limits, broadcast="b-struck")  # that broadcast gave up on it
    assert await render_text_async(source, light, limits, broadcast="b-other") == "Hi Ann"
    assert await render_text_async(source, light, limits) == "Hi Ann"  # a single job
    for _ in range(STRIKES + 1):  # single jobs never strike a template out: each costs its own budget only
        with pytest.raises(TemplateError) as single:
            await render_text_async(source, heavy, limits)
        assert "not tried again" not in str(single.value)


def test_ordinary_templates_render_as_before() -> None:
    text = "Hi {{ name }}: {% for i in items %}{{ i|upper }}{% if not loop.last %}, {% endif %}{% endfor %}"
    assert render_text(text, {"name": "Ann", "items": ["a", "b"]}) == "Hi Ann: A, B"
    assert render_text("{{ 'ab' * 3 }} {{ '%05d' % 7 }} {{ 2 ** 10 }}", {}) == "ababab 00007 1024"


@pytest.mark.parametrize("source", ["{% include 'x' %}", "{% import 'x' as y %}", "{% extends 'base' %}"])
def test_inline_template_that_loads_another_is_refused_at_the_edge(source: str) -> None:
    with pytest.raises(ValueError, match="an inline template cannot use"):
        check_syntax(source)


async def test_hostile_sms_broadcast_strikes_out_its_template_but_a_later_job_renders_it(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    settings = settings_for(temporal_env, smtp_server, tmp_path, render_timeout_seconds=0.5)
    people = customers_csv(tmp_path / "hostile.csv", 40)
    async with running(build_workers(temporal_env.client, settings)):
        started = time.monotonic()
        handle = await Jobs(temporal_env.client, settings).broadcast(
            {
                "source": f"csv:{tmp_path / 'hostile.csv'}",
                "message": {"channel": "sms", "body": SLOW_FOR_SOME, "context": {"loops": 100000}},
            }
        )
        result = await asyncio.wait_for(handle.result(), 60)
        took = time.monotonic() - started
        # The same template, on the same worker, for a later broadcast whose data make it cheap: it renders.
        later = await Jobs(temporal_env.client, settings).broadcast(
            {
                "source": f"csv:{tmp_path / 'hostile.csv'}",
                "message": {"channel": "sms", "body": SLOW_FOR_SOME, "context": {"loops": 0}},
            }
        )
        after = await asyncio.wait_for(later.result(), 60)
    assert (result.sent, result.failed) == (0, 40)
    assert all(("rendering took over 0.5 s" in f.reason or "not tried again" in f.reason) for f in result.failures)
    assert sum("in a row; not tried again" in f.reason for f in result.failures) >= 40 - 2 * STRIKES
    assert took < 10  # three strikes, not 40 time budgets; never a retry loop
    assert (after.sent, after.failed) == (40, 0), after.failures
    assert len(texted(settings, {phone for _, phone in people})) == 40


async def test_a_job_is_cancelled_while_its_template_renders(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Cancelling a job stops its render: the loop is free to take the cancellation, and the render process that
    was rendering (minutes of work, within a 60 s budget) is killed rather than left running for nobody."""
    templates = tmp_path / "templates" / "slow"
    templates.mkdir(parents=True)
    (templates / "subject.txt").write_text("Slow")
    (templates / "body.txt").write_text("{% for i in range(100000) %}{% set t = range(100000)|sum %}{% endfor %}")
    settings = settings_for(
        temporal_env, smtp_server, tmp_path, templates_dir=tmp_path / "templates", render_timeout_seconds=60
    )
    jobs = Jobs(temporal_env.client, settings)
    pool = render_pool.shared()
    async with running(build_workers(temporal_env.client, settings)):
        handle = await jobs.email({"to": ["cancelled-render@example.com"], "template": "slow"})
        [rendering] = await eventually(lambda: _busy(pool), bool, 30)
        await jobs.cancel(handle.id)
        status = await eventually(lambda: jobs.status(handle.id), lambda s: s.state is not JobState.RUNNING, 30)
        await asyncio.wait_for(rendering.process.wait(), 30)
    assert status.state is JobState.CANCELLED
    assert not rendering.usable and rendering.process.returncode is not None  # killed, never reused


async def _busy(pool: render_pool.RenderPool) -> list[render_pool.RenderProcess]:
    return list(pool.busy)
