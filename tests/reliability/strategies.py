"""Hypothesis strategies for what producers send: job dicts of every shape (valid, nearly valid, nonsense) and
`conveyor send` command lines."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
"""Any JSON value: what a field gets when a producer sends the wrong type."""

ADDRESSES = st.emails() | st.sampled_from(["ann@example.com", "ann@", "@x", "a@b", ""]) | st.text(max_size=30)
PHONES = st.from_regex(r"\+?[0-9 ()-]{0,18}", fullmatch=True) | st.sampled_from(["+12025550143", "+447700900123"])
NAMES = st.sampled_from(["welcome", "password-reset", "report-ready", "nope", "../etc/passwd", "Welcome"])


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`values` most of the time, any JSON value sometimes."""
    return values | JSON


ATTACHMENT = st.fixed_dictionaries(
    {},
    optional={
        "filename": maybe(st.text(max_size=12)),
        "content_type": maybe(st.sampled_from(["text/plain", "application/pdf", "nonsense"])),
        "content": maybe(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=12)),
        "storage_key": maybe(st.text(max_size=12)),
    },
)

EMAIL = st.fixed_dictionaries(
    {},
    optional={
        "to": maybe(st.lists(ADDRESSES, max_size=3)),
        "cc": maybe(st.lists(ADDRESSES, max_size=2)),
        "bcc": maybe(st.lists(ADDRESSES, max_size=2)),
        "reply_to": maybe(ADDRESSES),
        "template": maybe(NAMES | st.text(max_size=12)),
        "context": maybe(st.dictionaries(st.text(max_size=8), JSON, max_size=3)),
        "subject": maybe(st.text(max_size=30)),
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
            st.dictionaries(st.sampled_from(["hours", "path", "x"]) | st.text(max_size=6), JSON | st.text())
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
        "body": maybe(
            st.text(max_size=40) | st.sampled_from(["Hi {{ name }}", "Hi {{ name", "{% for %}", "{{ 1/0 }}"])
        ),
        "sender_id": maybe(st.text(max_size=14)),
        "context": maybe(st.dictionaries(st.text(max_size=8), JSON, max_size=3)),
    },
)
BROADCAST = st.fixed_dictionaries(
    {},
    optional={
        "source": maybe(
            st.sampled_from(["csv:list.csv", "csv:/etc/passwd", "static:ann@example.com", "nope:x", ":"])
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
