"""What every template a job names or carries must be, checked at the edge (client, CLI, HTTP, workflow decode).

Jinja2 is imported only when an inline template is checked, so `import conveyor` stays light.
"""

from __future__ import annotations

import re

TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""A template's name: lower-case letters, digits, `-` and `_` (it names a directory of template files)."""


def check_syntax(source: str) -> None:
    """Raise `ValueError` naming the line of a syntax error in an inline template: models call this, so bad
    templates are refused at the edge, before anything is enqueued."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as e:
        raise ValueError(f"template syntax error on line {e.lineno}: {e.message}") from None
