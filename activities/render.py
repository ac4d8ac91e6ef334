"""Email templates: a named directory holding `subject.txt` and `body.txt` and/or `body.html`; and text templates
given inline (an SMS broadcast's body).

Rendering is sandboxed (templates may come from people who should not run code in the worker), strict (a missing
variable is an error, not an empty string in a customer's inbox) and autoescaped for HTML. Your templates dir is
searched first, then the built-ins (`welcome`, `password-reset`, `report-ready`), so a file of yours overrides
the built-in of the same name.

Every render is bounded (see `activities.sandbox`): a template over its budget fails with a permanent
`TemplateError` naming the limit. The async forms (`render_async`, `render_text_async`) first render on the event
loop for at most `ON_LOOP_SECONDS` — a normal template is done by then, with no thread hop — and only a render
that outgrows that slice is started again on the render thread, where its time budget stops it; so a hostile
template never holds the loop that heartbeats, the API and the other queues share.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from activities.sandbox import (
    BoundedEnvironment,
    Budget,
    BudgetExceeded,
    OverSlice,
    RenderTimeout,
    render_within,
    within,
)
from contracts.errors import TemplateError, TemplateNotFound
from contracts.render_limits import RenderLimits

T = TypeVar("T")

ON_LOOP_SECONDS = 0.01
"""How long a render may hold the event loop before it moves to the render thread (and starts over there)."""

_RENDER_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="conveyor-render")
"""Slow renders only; two threads, so hostile templates cannot take every thread the worker has."""


STRIKES = 3
"""Renders of one template in a row, within one broadcast, that ran out of time, after which the worker stops
trying it for that broadcast: a hostile broadcast would otherwise cost the full time budget for each of its (maybe
millions of) recipients. Strikes belong to one broadcast: a template struck out there still renders for every
other job (a single email is one render: nothing to save), so no producer can ban a template for a whole worker."""

_strikes: dict[tuple[str, str], int] = {}
"""(broadcast id, template) -> time-outs in a row. Bounded (see `bounded`), and cleared per template by a render
that finishes."""


def _struck_out(key: tuple[str, str] | None, limits: RenderLimits) -> None:
    if key is not None and _strikes.get(key, 0) >= STRIKES:
        error = TemplateError(
            f"rendering took over {limits.timeout:g} s for {STRIKES} recipients in a row; not tried again"
        )
        error.timed_out = True
        raise error


async def bounded(fn: Callable[[], T], limits: RenderLimits, template: str, broadcast: str | None = None) -> T:
    """`fn()` (a render of `template`) under `limits`: on the loop while it stays within `ON_LOOP_SECONDS`, else
    from the start again on the render thread. Rendering is pure, so starting over changes nothing but where it
    runs. Within a `broadcast`, a template that ran out of time `STRIKES` times in a row is not tried again."""
    key = None if broadcast is None else (broadcast, template)
    _struck_out(key, limits)
    try:
        return within(Budget(limits, slice_seconds=ON_LOOP_SECONDS), fn)
    except OverSlice:
        pass

    def in_thread() -> T:
        _struck_out(key, limits)  # renders queued behind the strikes need not run
        return within(Budget(limits), fn)

    future = asyncio.get_running_loop().run_in_executor(_RENDER_THREADS, in_thread)
    try:
        # The budget stops the thread itself at its deadline; this wait is the backstop for one step that
        # overruns it (the thread then finishes on its own, its result unused).
        result = await asyncio.wait_for(asyncio.shield(future), timeout=limits.timeout * 2 + 1)
    except TimeoutError:
        error = TemplateError(f"rendering took over {limits.timeout:g} s")
        error.timed_out = True
        raise error from None
    except TemplateError as e:
        if e.timed_out and key is not None:
            if len(_strikes) > 1000:  # bounded memory: forget old broadcasts
                _strikes.clear()
            _strikes[key] = _strikes.get(key, 0) + 1
        raise
    if key is not None:
        _strikes.pop(key, None)
    return result


BUILTIN_TEMPLATES = Path(__file__).parent / "email_templates"


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered template: a one-line subject and at least one body."""

    subject: str
    text: str | None
    html: str | None


class TemplateRenderer:
    """Renders named email templates from the user's directory, falling back to the built-ins."""

    def __init__(self, templates_dir: Path | None = None, limits: RenderLimits | None = None) -> None:
        search = [str(p) for p in (templates_dir, BUILTIN_TEMPLATES) if p is not None]
        self.limits = limits or RenderLimits()
        self._env = BoundedEnvironment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=False,
        )

    async def render_async(self, name: str, context: Mapping[str, Any], broadcast: str | None = None) -> RenderedEmail:
        """`render` within this renderer's limits, off the event loop when it is slow (see the module doc); for a
        recipient of `broadcast`, with that broadcast's strikes (see `STRIKES`)."""
        return await bounded(lambda: self._render_all(name, context), self.limits, f"named:{name}", broadcast)

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render template `name` on this thread within the limits; raises `TemplateNotFound` or `TemplateError`
        (both permanent)."""
        return within(Budget(self.limits), lambda: self._render_all(name, context))

    def _render_all(self, name: str, context: Mapping[str, Any]) -> RenderedEmail:
        subject = self._render(name, "subject.txt", context, required=True)
        text = self._render(name, "body.txt", context)
        html = self._render(name, "body.html", context)
        if text is None and html is None:
            raise TemplateNotFound(f"template '{name}' has no body.txt or body.html")
        assert subject is not None
        return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)

    def check(self, name: str) -> None:
        """Load template `name` without rendering it: the `TemplateNotFound` or syntax `TemplateError` that
        `render` would raise, found before a job does (`conveyor doctor`)."""
        self._load(name, "subject.txt", required=True)
        bodies = [self._load(name, part) for part in ("body.txt", "body.html")]  # both: each may have a syntax error
        if all(body is None for body in bodies):
            raise TemplateNotFound(f"template '{name}' has no body.txt or body.html")

    def _load(self, name: str, part: str, required: bool = False) -> jinja2.Template | None:
        try:
            return self._env.get_template(f"{name}/{part}")
        except jinja2.TemplateNotFound:
            if required:
                raise TemplateNotFound(f"template '{name}' not found (no {name}/{part})") from None
            return None
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"template '{name}/{part}' line {e.lineno}: {e.message}") from None

    def _render(self, name: str, part: str, context: Mapping[str, Any], required: bool = False) -> str | None:
        try:
            template = self._load(name, part, required)
        except BudgetExceeded as e:  # a constant expression folded at compile time
            raise TemplateError(f"template '{name}/{part}' over its render budget: {e}") from None
        return None if template is None else rendered(template, context, f"template '{name}/{part}'")


_INLINE = BoundedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
"""Inline text templates: the same sandbox and strictness as the named ones; plain text, so no escaping."""


@functools.lru_cache(maxsize=64)
def _inline(source: str) -> jinja2.Template:
    return _INLINE.from_string(source)


def rendered(template: jinja2.Template | Callable[[], jinja2.Template], context: Mapping[str, Any], what: str) -> str:
    """`template` (or the compiled template `template()` returns: compiling folds constant expressions, which
    can be over budget too) rendered with `context` under the current budget. A missing variable, a failing
    expression (`1/0`, `range` too long, a type error) or an exhausted budget is a `TemplateError` (permanent:
    the same template and data fail the same way on every attempt) that starts with `what`."""
    try:
        return render_within(template if isinstance(template, jinja2.Template) else template(), dict(context))
    except jinja2.UndefinedError as e:
        raise TemplateError(f"{what}: {e.message}") from None
    except BudgetExceeded as e:
        error = TemplateError(f"{what} over its render budget: {e}")
        error.timed_out = isinstance(e, RenderTimeout)
        raise error from None
    except RecursionError:
        raise TemplateError(f"{what}: recursion too deep") from None
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as e:
        raise TemplateError(f"{what}: {type(e).__name__}: {e}") from None


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render an inline template (compiled once per distinct text) within the current budget; `TemplateError`
    (permanent) if it fails."""
    return rendered(lambda: _inline(source), context, "text template")


async def render_text_async(
    source: str, context: Mapping[str, Any], limits: RenderLimits, broadcast: str | None = None
) -> str:
    """`render_text` within `limits`, off the event loop when it is slow; for a recipient of `broadcast`, with that
    broadcast's strikes (see `STRIKES`)."""
    return await bounded(lambda: render_text(source, context), limits, f"inline:{source}", broadcast)
