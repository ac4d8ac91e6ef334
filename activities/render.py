"""Email templates: a named directory holding `subject.txt` and `body.txt` and/or `body.html`; and text templates
given inline (an SMS broadcast's body).

Rendering is sandboxed (templates may come from people who should not run code in the worker), strict (a missing
variable is an error, not an empty string in a customer's inbox) and autoescaped for HTML. Your templates dir is
searched first, then the built-ins (`welcome`, `password-reset`, `report-ready`), so a file of yours overrides
the built-in of the same name.

Every render is bounded (see `activities.sandbox`): a template over its budget fails with a permanent
`TemplateError` naming the limit. The async forms (`render_async`, `render_text_async`), which jobs use, render in
a render process (`activities.render_pool`) that is killed at the deadline and runs under the operating system's
CPU and memory limits: the event loop that heartbeats, the API and the other queues share only waits. The sync
forms render on the calling thread (`conveyor doctor`, the benchmarks, the render processes themselves).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from activities import render_pool, sandbox
from activities.sandbox import BoundedEnvironment, Budget, BudgetExceeded, render_within, within
from contracts.errors import TemplateError, TemplateNotFound
from contracts.render_limits import RenderLimits

STRIKES = 3
"""Renders of one template in a row, within one broadcast, that went over their budget (time, size, steps, memory,
a killed render process), after which the worker stops trying it for that broadcast: a hostile broadcast would
otherwise cost the full budget for each of its (maybe millions of) recipients. Strikes belong to one broadcast: a
template struck out there still renders for every other job (a single email is one render: nothing to save), so no
producer can ban a template for a whole worker."""

_strikes: dict[tuple[str, str], int] = {}
"""(broadcast id, template) -> renders over budget in a row. Bounded (see `bounded`), and cleared per template by a
render that finishes."""


def _struck_out(key: tuple[str, str] | None) -> None:
    if key is not None and _strikes.get(key, 0) >= STRIKES:
        raise render_pool.over_budget(f"over its render budget for {STRIKES} recipients in a row; not tried again")


async def bounded(request: tuple[Any, ...], limits: RenderLimits, template: str, broadcast: str | None = None) -> Any:
    """`request` (see `activities.render_process`) rendered in a render process under `limits`. Within a
    `broadcast`, a template that went over its budget `STRIKES` times in a row is not tried again."""
    key = None if broadcast is None else (broadcast, template)
    _struck_out(key)
    try:
        # Checked again once a process is free: the renders queued behind the strikes need not run.
        result = await render_pool.shared().render(request, limits, lambda: _struck_out(key))
    except TemplateError as e:
        if e.over_budget and key is not None:
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
        self.templates_dir = templates_dir
        search = [str(p) for p in (templates_dir, BUILTIN_TEMPLATES) if p is not None]
        self.limits = limits or RenderLimits()
        self._env = BoundedEnvironment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=False,
        )

    async def render_async(self, name: str, context: Mapping[str, Any], broadcast: str | None = None) -> RenderedEmail:
        """`render` within this renderer's limits, in a render process (see the module doc); for a recipient of
        `broadcast`, with that broadcast's strikes (see `STRIKES`)."""
        where = None if self.templates_dir is None else str(self.templates_dir)
        subject, text, html = await bounded(
            ("named", where, name, dict(context)), self.limits, f"named:{name}", broadcast
        )
        return RenderedEmail(subject=subject, text=text, html=html)

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
            raise render_pool.over_budget(f"template '{name}/{part}' over its render budget: {e}") from None
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
        raise render_pool.over_budget(f"{what} over its render budget: {e}") from None
    except MemoryError:
        megabytes = sandbox.current().limits.max_memory // 2**20
        raise render_pool.over_budget(f"{what} over its render budget: over the {megabytes} MB memory limit") from None
    except RecursionError:
        raise render_pool.over_budget(f"{what}: recursion too deep") from None
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as e:
        raise TemplateError(f"{what}: {type(e).__name__}: {e}") from None


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render an inline template (compiled once per distinct text) within the current budget; `TemplateError`
    (permanent) if it fails."""
    return rendered(lambda: _inline(source), context, "text template")


async def render_text_async(
    source: str, context: Mapping[str, Any], limits: RenderLimits, broadcast: str | None = None
) -> str:
    """`render_text` within `limits`, in a render process; for a recipient of `broadcast`, with that broadcast's
    strikes (see `STRIKES`)."""
    result: str = await bounded(("inline", source, dict(context)), limits, f"inline:{source}", broadcast)
    return result
