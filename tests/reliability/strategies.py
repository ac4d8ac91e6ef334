"""Hypothesis strategies for what producers send: job dicts of every shape (valid, nearly valid, nonsense) and
`conveyor send` command lines — with the hostile cases among them: control and line-separator characters in
text, nesting deeper than any encoder likes, non-finite numbers, and template syntax that costs or fails."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

CONTROL = st.characters(whitelist_categories=("Cc", "Zl", "Zp"))
"""NUL, C0 and C1 controls (`\x0b`, `\x85`...), `\u2028`, `\u2029`: what splits a header or breaks a path."""
HOSTILE_TEXT = st.text(st.characters(blacklist_categories=["Cs"]) | CONTROL, max_size=20) | st.tuples(
    st.text(max_size=8), CONTROL, st.text(max_size=8)
).map("".join)
"""Text that often carries a control or line-separator character."""
NUMBERS = st.integers() | st.floats() | st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -0.0])
"""Numbers, non-finite and huge ones included."""


def nested(levels: int) -> Any:
    """A value `levels` objects and lists deep."""
    value: Any = 1
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


DEEP = st.integers(30, 1000).map(nested)
"""Nesting past the models' limit (32) and past the JSON encoder's (~250)."""

JSON: st.SearchStrategy[Any] = (
    st.recursive(
        st.none() | st.booleans() | NUMBERS | HOSTILE_TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )
    | DEEP
)
"""Any JSON value: what a field gets when a producer sends the wrong type."""

TEMPLATES = st.sampled_from(
    [
        "Hi {{ name }}",
        "Hi {{ name",
        "{% for %}",
        "{{ 1/0 }}",
        "{% include 'welcome/body.txt' %}",
        "{% import 'x' as y %}",
        "{{ range(200000) }}",
        "{{ 'x' * 50000000 }}",
        "{{ 9 ** 999999 }}",
        "{% for i in range(100000) %}{% for j in range(8000) %}{% endfor %}{% endfor %}",
        "{{ ''.__class__ }}",
        "{{ lipsum(n=10000000) }}",
    ]
)
"""Template syntax: ordinary, broken, loading another template, and hostile (costly or failing to render)."""

ADDRESSES = st.emails() | st.sampled_from(["ann@example.com", "ann@", "@x", "a@b", ""]) | st.text(max_size=30)
PHONES = st.from_regex(r"\+?[0-9 ()-]{0,18}", fullmatch=True) | st.sampled_from(["+12025550143", "+447700900123"])
NAMES = st.sampled_from(["welcome", "password-reset", "report-ready", "nope", "../etc/passwd", "Welcome"])


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`values` most of the time, any JSON value sometimes."""
    return values | JSON


ATTACHMENT = st.fixed_dictionaries(
    {},
    optional={
        "filename": maybe(HOSTILE_TEXT),
        "content_type": maybe(st.sampled_from(["text/plain", "application/pdf", "nonsense", "multipart/mixed"])),
        "content": maybe(
            st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
            | st.text(max_size=12)
            | st.sampled_from(["!!!", "aGk", "aGk=\n"])
        ),
        "storage_key": maybe(HOSTILE_TEXT),
    },
)

EMAIL = st.fixed_dictionaries(
    {},
    optional={
        "to": maybe(st.lists(ADDRESSES, max_size=3)),
        "cc": maybe(st.lists(ADDRESSES, max_size=2)),
        "bcc": maybe(st.lists(ADDRESSES, max_size=2)),
        "reply_to": maybe(ADDRESSES),
        "template": maybe(NAMES | st.text(max_size=12) | st.just("welcome\n")),
        "context": maybe(st.dictionaries(st.text(max_size=8), JSON, max_size=3)),
        "subject": maybe(HOSTILE_TEXT),
        "text": maybe(st.text(max_size=60)),
        "html": maybe(st.text(max_size=60)),
        "attachments": maybe(st.lists(ATTACHMENT, max_size=2)),
        "surprise": JSON,
    },
)
SMS = st.fixed_dictionaries(
    {},
    optional={
        "to": maybe(PHONES),
        "body": maybe(st.text(max_size=200) | st.text(alphabet="a✓", min_size=60, max_size=800)),
        "sender_id": maybe(st.text(max_size=14)),
        "surprise": JSON,
    },
)
REPORT = st.fixed_dictionaries(
    {},
    optional={
        "report": maybe(st.sampled_from(["jobs-summary", "csv-file", "sales"]) | st.text(max_size=10)),
        "params": maybe(
            st.dictionaries(
                st.sampled_from(["hours", "path", "x"]) | st.text(max_size=6),
                JSON | HOSTILE_TEXT | st.sampled_from(["inf", "nan", "1e308", "-1", ".", "a\x00b"]),
            )
        ),
        "format": maybe(st.sampled_from(["pdf", "csv", "xls"])),
        "deliver_to": maybe(st.lists(ADDRESSES, max_size=2)),
        "surprise": JSON,
    },
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "channel": maybe(st.sampled_from(["email", "sms", "fax"])),
        "template": maybe(NAMES | st.sampled_from(["newsletter"])),
        "body": maybe(st.text(max_size=40) | TEMPLATES),
        "sender_id": maybe(st.text(max_size=14)),
        "context": maybe(st.dictionaries(st.text(max_size=8), JSON, max_size=3)),
    },
)
BROADCAST = st.fixed_dictionaries(
    {},
    optional={
        "source": maybe(
            st.sampled_from(
                ["csv:list.csv", "csv:/etc/passwd", "static:ann@example.com", "nope:x", ":", "csv:.", "csv:a\x00b"]
            )
            | st.fixed_dictionaries({"name": maybe(st.sampled_from(["static", "csv"])), "arg": maybe(st.lists(PHONES))})
        ),
        "message": maybe(MESSAGE),
        "batch_size": maybe(st.integers(-5, 2000)),
        "parallel_batches": maybe(st.integers(-1, 40)),
        "continue_every": maybe(st.integers(-1, 10)),
        "surprise": JSON,
    },
)
LINE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
VALID = {
    "email": st.fixed_dictionaries(
        {"to": st.lists(st.emails(), min_size=1, max_size=3), "subject": LINE, "text": st.text(min_size=1)},
        optional={"cc": st.lists(st.emails(), max_size=2), "html": st.text(min_size=1)},
    ),
    "sms": st.fixed_dictionaries(
        {"to": st.sampled_from(["+12025550143", "+44 7700 900123", "+1 (202) 555-0100"]), "body": LINE}
    ),
    "report": st.fixed_dictionaries(
        {"report": st.just("jobs-summary"), "params": st.fixed_dictionaries({"hours": st.integers(1, 48).map(str)})},
        optional={"format": st.sampled_from(["pdf", "csv"]), "deliver_to": st.lists(st.emails(), max_size=2)},
    ),
    "broadcast": st.fixed_dictionaries(
        {
            "source": st.sampled_from(["static:ann@example.com,bob@example.com", "csv:list.csv"]),
            "message": st.just({"template": "newsletter"})
            | st.fixed_dictionaries({"channel": st.just("sms"), "body": LINE.filter(lambda t: "{" not in t)}),
        }
    ),
}
JOBS: dict[str, st.SearchStrategy[Any]] = {
    "email": VALID["email"] | EMAIL | JSON,
    "sms": VALID["sms"] | SMS | JSON,
    "report": VALID["report"] | REPORT | JSON,
    "broadcast": VALID["broadcast"] | BROADCAST | JSON,
}
"""Per job kind: valid jobs, dicts shaped like the request model, and any JSON value at all."""

DELAYS = st.one_of(
    st.none(),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365)),
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=999_999))
    | st.sampled_from([timedelta(days=365, microseconds=1), timedelta.max, -timedelta.resolution])
    | NUMBERS,
)
"""A start's `delay`: none, within the one cap (0 to 365 days), or past it, negative or not a timedelta at all."""
PRIORITIES = st.one_of(
    st.none(), st.integers(1, 5), st.integers() | st.sampled_from([True, False, 2.5, "1", 1.0]) | NUMBERS
)
"""A start's `priority`: none, 1 to 5, or any other number, a bool, a float or a string."""

OPTIONS = {
    "email": ["--to", "--cc", "--bcc", "--reply-to", "--template", "--var", "--context", "--subject", "--text",
              "--html", "--key", "--delay", "--priority"],
    "sms": ["--to", "--body", "--sender-id", "--key", "--delay", "--priority"],
    "report": ["--report", "--format", "--param", "--deliver-to", "--key", "--delay", "--priority"],
}  # fmt: skip
VALUES = st.text(max_size=20) | st.sampled_from(
    ["ann@example.com", "+12025550143", "welcome", "jobs-summary", "csv-file", "pdf", "csv", "name=Ann", "hours=1",
     "90s", "1d", "99999999999d", "[" * 100_000, "3", "0", "9", "-1", "{}", '{"name": "Ann"}', "[1]", "Hi",
     "hello", "=", "--"]
)  # fmt: skip


BASES: dict[str, st.SearchStrategy[list[str]]] = {
    "email": st.tuples(st.emails(), LINE, LINE).map(lambda v: ["--to", v[0], "--subject", v[1], "--text", v[2]]),
    "sms": st.tuples(st.sampled_from(["+12025550143", "+44 7700 900123"]), LINE).map(
        lambda v: ["--to", v[0], "--body", v[1]]
    ),
    "report": st.just(["--report", "jobs-summary", "--param", "hours=1"]),
}
"""A valid command's options per kind, which the fuzzed options then add to (or spoil)."""


def _command(kind: str) -> st.SearchStrategy[list[str]]:
    base: st.SearchStrategy[list[str]] = BASES[kind] | st.just([])
    pairs = st.lists(st.tuples(st.sampled_from(OPTIONS[kind]), VALUES), max_size=2)
    junk: st.SearchStrategy[list[str]] = st.just([]) | st.lists(st.text(max_size=10), max_size=1)
    return st.tuples(base, pairs, junk).map(lambda p: ["send", kind, *p[0], *[x for y in p[1] for x in y], *p[2]])


COMMANDS = st.sampled_from(sorted(OPTIONS)).flatmap(_command)
"""`conveyor send KIND --option value ...`: a valid command or none, plus options of that kind and some junk."""
