"""Checks every producer's input passes before it is enqueued, shared by the request models (so the client, the
CLI, the HTTP API and the workflows' own decoding refuse the same input with the same message).

Each guards a place where an activity would otherwise choke minutes later, after retries, with a raw Python
error: a header the `email` package folds or splits on (it treats `\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`,
`\\u2028` and `\\u2029` as line breaks, not only CR and LF), a NUL in a path (`embedded null byte`), a context nested
deeper than the JSON encoder's recursion limit. Messages never echo the value: it may be large or personal.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

MAX_DELAY = timedelta(days=365)
"""Longest wait any producer (Python, CLI, HTTP, a raw start) may ask for, a job's `delay` or the welcome flow's
follow-up: one cap for every path (past it, `now + wait` overflows Python's datetime long before Temporal minds)."""

TENANT_PATTERN = r"^[A-Za-z0-9_.:@+=-]{1,64}$"
"""What a tenant may be: Temporal caps a fairness key at 64 bytes; the characters are those of an idempotency key,
so a tenant is searchable as it is and reads the same in a URL, a shell and a visibility query."""

MAX_DEPTH = 32
"""Deepest nesting of lists and objects in a job's variables (templates need a few levels; the JSON encoder
fails past ~250)."""

_LINE_OR_CONTROL = frozenset({"Cc", "Zl", "Zp"})
"""Unicode categories that break a header line or a path: control characters (C0, DEL, C1 such as `\\x85`) and
the line and paragraph separators."""


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Unicode's bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): invisible, they
reorder the text after them, so `invoice\u202efdp.exe` shows as `invoiceexe.pdf` and a code or a link in a text
reads other than it is. The marks a right-to-left language needs (U+200E, U+200F, U+061C) are not among them."""


def _first_bad(value: str) -> str | None:
    return next((c for c in value if unicodedata.category(c) in _LINE_OR_CONTROL), None)


def _first_bidi(value: str) -> str | None:
    return next((c for c in value if c in BIDI_CONTROLS), None)


def header_text(value: str) -> str:
    """`value` if it can be one header line (RFC 5322: printable characters and whitespace, a tab included: HTAB is
    whitespace in any header body, not a line break) that reads as it is written; `ValueError` naming the first
    other control or line-separator character, or bidirectional control, otherwise."""
    bad = _first_bad(value.replace("\t", " "))
    if bad is not None:
        raise ValueError(f"must be one line without control characters (found U+{ord(bad):04X})")
    return display_text(value)


def display_text(value: str) -> str:
    """`value` if it holds no NUL and no bidirectional control (`BIDI_CONTROLS`): text a person reads (an SMS
    body, a subject, a filename) shows what was written; `ValueError` naming the first one otherwise."""
    bad = "\0" if "\0" in value else _first_bidi(value)
    if bad is not None:
        raise ValueError(f"must not contain NUL or bidirectional control characters (found U+{ord(bad):04X})")
    return value


def path_text(value: str) -> str:
    """`value` if it can name a file or a storage key (no NUL, no control characters); `ValueError` otherwise."""
    bad = _first_bad(value)
    if bad is not None:
        raise ValueError(f"must not contain control characters (found U+{ord(bad):04X})")
    return value


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """`value` if its lists and objects nest at most `limit` deep; `ValueError` otherwise. Iterative, so a
    hostile depth cannot hit Python's own recursion limit here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            raise ValueError(f"is nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)
    return value
