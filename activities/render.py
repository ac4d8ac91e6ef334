"""Email templates: a named directory holding `subject.txt` and `body.txt` and/or `body.html`; and text templates
given inline (an SMS broadcast's body).

Rendering is sandboxed (templates may come from people who should not run code in the worker), strict (a missing
variable is an error, not an empty string in a customer's inbox) and autoescaped for HTML. Your templates dir is
searched first, then the built-ins (`welcome`, `password-reset`, `report-ready`), so a file of yours overrides
the built-in of the same name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from contracts.errors import TemplateError, TemplateNotFound

BUILTIN_TEMPLATES = Path(__file__).parent / "email_templates"


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered template: a one-line subject and at least one body."""

    subject: str
    text: str | None
    html: str | None


class TemplateRenderer:
    """Renders named email templates from the user's directory, falling back to the built-ins."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        search = [str(p) for p in (templates_dir, BUILTIN_TEMPLATES) if p is not None]
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=False,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render template `name`; raises `TemplateNotFound` or `TemplateError` (both permanent)."""
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
        template = self._load(name, part, required)
        return None if template is None else rendered(template, context, f"template '{name}/{part}'")


_INLINE = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
"""Inline text templates: the same sandbox and strictness as the named ones; plain text, so no escaping."""


@functools.lru_cache(maxsize=64)
def _inline(source: str) -> jinja2.Template:
    return _INLINE.from_string(source)


def rendered(template: jinja2.Template, context: Mapping[str, Any], what: str) -> str:
    """`template` rendered with `context`; a missing variable or a failing expression is a `TemplateError`
    (permanent) that starts with `what`."""
    try:
        return template.render(context)
    except jinja2.UndefinedError as e:
        raise TemplateError(f"{what}: {e.message}") from None
    except jinja2.TemplateError as e:
        raise TemplateError(f"{what}: {e}") from None


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render an inline template (compiled once per distinct text); `TemplateError` (permanent) if it fails."""
    return rendered(_inline(source), context, "text template")
