"""Hypothesis strategies for Jinja templates a hostile or careless producer might send: expressions over large
literals, operators, filters and methods that grow values, loops, `namespace` doublings and recursive macros."""

from __future__ import annotations

from hypothesis import strategies as st

NUMBERS = st.sampled_from(["0", "1", "2", "9", "300", "-1", "99999", "999999", "10**9", "1e308"]) | st.integers(
    -1000, 1000
).map(str)
"""Small, large and awkward numbers."""
STRINGS = st.text(st.sampled_from("ab {}%\t\n<&'\\"), max_size=6).map(repr) | st.tuples(
    st.sampled_from(["'x'", "'\\t'", "'{0}'", "'%s'", "'\\n'", "'ab '"]), NUMBERS
).map(lambda p: f"({p[0]} * {p[1]})")
"""String literals, short ones and ones repeated up to a million times (and past it)."""
NAMES = st.sampled_from(["name", "items", "ns.s", "loop_index", "missing"])
"""Variables: from the context (`name`, `items`), a namespace attribute, and one that does not exist."""

FILTERS = st.sampled_from(
    [
        "wordwrap(1)", "wordwrap(2, true, 'xxxxxxxx')", "indent(300)", "center(999999)", "join", "join('---')",
        "replace('', 'bb')", "replace('x', 'yyyy')", "format(1)", "length", "list", "sum", "sort", "unique",
        "batch(3)", "slice(3)", "string", "tojson", "pprint", "e", "upper", "title", "truncate(5)", "urlize",
        "map('center', 999999)|list", "map('string')|join", "reverse|list", "first", "last", "int", "float",
        "striptags", "wordcount", "trim", "default('d')", "dictsort", "xmlattr", "round", "abs",
    ]
)  # fmt: skip
"""Filters, with arguments that make some of them grow their value."""
METHODS = st.sampled_from(
    [
        "format(name, name, name)", "format(*items)", "expandtabs(300)", "join(items)", "ljust(999999)",
        "zfill(999999)", "replace('', '--')", "split('')", "split()", "upper()", "translate({120: 'abcdef' * 99})",
        "extend(items)", "append(1)", "count('x')", "encode()", "splitlines()", "__class__",
    ]
)  # fmt: skip
"""Methods of strings and lists a template may call (and one attribute the sandbox refuses)."""
OPERATORS = st.sampled_from(["~", "+", "*", "**", "%", "//", "/", "-", "==", "and", "in"])


def _expression(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, OPERATORS, inner).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(inner, FILTERS).map(lambda p: f"({p[0]})|{p[1]}"),
        st.tuples(inner, METHODS).map(lambda p: f"({p[0]}).{p[1]}"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        inner.map(lambda e: f"range({e})"),
    )


EXPRESSIONS = st.recursive(NUMBERS | STRINGS | NAMES, _expression, max_leaves=6)
"""Jinja expressions built from the pieces above."""

STATEMENTS = st.one_of(
    EXPRESSIONS.map(lambda e: "{{ " + e + " }}"),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda p: "{% for i in " + p[0] + " %}{{ " + p[1] + " }}{% endfor %}"),
    st.tuples(NUMBERS, st.sampled_from(["~", "+", "*"]), EXPRESSIONS).map(
        lambda p: "{% for i in range(" + p[0] + ") %}{% set ns.s = ns.s " + p[1] + " " + p[2] + " %}{% endfor %}"
    ),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda p: "{% if " + p[0] + " %}{{ " + p[1] + " }}{% endif %}"),
    EXPRESSIONS.map(lambda e: "{% macro f(n) %}{{ f(n) ~ " + e + " }}{% endmacro %}{{ f(1) }}"),
    st.text(max_size=10),
)
"""One statement: an output, a loop, a `namespace` growing in a loop, a condition, a recursive macro, or text."""

TEMPLATES = st.lists(STATEMENTS, min_size=1, max_size=3).map(
    lambda parts: "{% set ns = namespace(s='x') %}" + "".join(parts) + "{{ ns.s|length }}"
)
"""Whole templates: a few statements sharing a namespace."""

CONTEXT = {"name": "Ann", "items": ["a", "b", "c"], "loop_index": 3}
"""The context every fuzzed template renders with."""
