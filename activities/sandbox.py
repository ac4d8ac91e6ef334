"""A Jinja sandbox that bounds what a template may cost: steps, time, and the size of every value it builds.

Jinja's own `SandboxedEnvironment` stops a template from reaching Python's internals, but not from spending the
worker: two nested loops over `range(100000)` run for minutes, and `{{ 'x' * 50000000 }}` builds 50 MB in half a
second. Templates come from producers (an SMS broadcast's body is one), so every render here runs under a
`Budget`:

- every loop iteration and every call (functions, macros, methods, a recursive loop) is a *step*; a render may
  take `max_steps` of them, and checks its deadline as it goes, so an over-budget render stops itself — even in
  a thread, which nothing could otherwise stop;
- `*`, `**`, `%`, `+` and `~` on strings, sequences and integers, string methods (`format`, `expandtabs`,
  `join`, `translate`, `list.extend`...) and filters (`wordwrap`, `indent`, `join`, `sum`...) are refused *before*
  they build a value over `max_bytes` (or an integer over `MAX_INT_BITS`) wherever the size can be known first;
  every result is measured after, and the output as it streams.

What the sandbox cannot foresee (a filter whose cost is not its size, a value built inside a C call) is stopped by
the render process around it (`activities.render_pool`): the operating system's CPU and memory limits, and a kill
at the deadline. An exhausted budget raises `BudgetExceeded`, a `BaseException`, so no `except Exception` inside a
filter or a macro can swallow it; `activities.render` turns it into the job's `TemplateError`.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, EvalContext, LoopContext
from jinja2.sandbox import SandboxedEnvironment

from contracts.render_limits import RenderLimits

MAX_INT_BITS = 4096
"""Largest integer a template may compute (~1,200 digits): `9 ** 9 ** 9` would otherwise take the CPU for ever."""

_BIG_NUMBER = re.compile(r"\d{7,}")
"""A width or precision of a million or more in a `%` or `{}` format string: it would pad to that size. (Smaller
ones are measured after: the result is below the limit's order of magnitude.)"""


class BudgetExceeded(BaseException):
    """The render ran out of its budget: the reason says which part."""


class RenderTimeout(BudgetExceeded):
    """The render ran out of time."""


class Budget:
    """One render's allowance; `step` is called on every iteration and call."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.monotonic() + limits.timeout

    def step(self) -> None:
        """Count one step and check the clock (~60 ns): one step may be a filter over 100,000 items, so a render
        that checked only every so many steps could overrun its deadline by seconds."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(f"over {self.limits.max_steps:,} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise RenderTimeout(f"rendering took over {self.limits.timeout:g} s")

    def size(self, n: int, what: str) -> None:
        """Refuse a value (or an output) of `n` characters or items over `max_bytes`."""
        if n > self.limits.max_bytes:
            raise BudgetExceeded(f"{what} of {n:,} characters, over the {self.limits.max_bytes:,} limit")


T = TypeVar("T")

_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("render_budget", default=None)


def current() -> Budget:
    """The budget of the render running on this thread (a generous default outside `within`)."""
    return _BUDGET.get() or Budget(RenderLimits())


def within(budget: Budget, fn: Callable[[], T]) -> T:
    """`fn()` with `budget` as the current render's budget (on whichever thread runs it)."""
    token = _BUDGET.set(budget)
    try:
        return fn()
    finally:
        _BUDGET.reset(token)


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def text_size(value: Any, limit: int) -> int:
    """About how many characters `str(value)` has, counted without building it and given up past `limit`: a list
    of a million references to one long string is small, its text is not (`(['x' * 999999] * 999999)|join`)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if not isinstance(value, (list, tuple, set, frozenset)):
        return 0 if isinstance(value, (int, float, type(None))) else min(len(str(value)), limit + 1)
    total = 2
    for item in value:
        total += text_size(item, limit - total) + 2
        if total > limit:
            break
    return total


def _check_text(value: Any, what: str) -> None:
    """Refuse a value whose text would be over `max_bytes`, before anything turns it into text."""
    limit = current().limits.max_bytes
    current().size(text_size(value, limit), what)


def _check_args(args: Iterable[Any], what: str) -> None:
    """An integer argument over `max_bytes` would build a value that size (`center`, `batch`, `lipsum`...)."""
    budget = current()
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > budget.limits.max_bytes:
            raise BudgetExceeded(f"{what} with {arg:,}, over the {budget.limits.max_bytes:,} limit")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    """The exact size `text.replace(old, new)` would have (`''` as `old` inserts `new` between every character)."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = len(text) + 1 if old == "" else text.count(old)
        current().size(len(text) + count * (len(new) - len(old)), "replace() result")


def _check_format(fmt: Any, args: Iterable[Any], percent: bool = False) -> None:
    """`fmt % args` or `fmt.format(*args)`: a huge width, or a field repeated over a long argument
    (`'{0}{0}{0}'.format(big)`): at most every field gets the longest argument."""
    if not isinstance(fmt, str):
        return
    if _BIG_NUMBER.search(fmt):
        raise BudgetExceeded("a format width or precision of a million or more")
    args = list(args)
    _check_args(args, "a format argument")
    limit = current().limits.max_bytes
    longest = max((text_size(a, limit) for a in _flat(args)), default=0)
    fields = fmt.count("%") if percent else _fields(fmt)
    current().size(len(fmt) + fields * longest, "a formatted string")


def _flat(args: Iterable[Any]) -> Iterator[Any]:
    for arg in args:
        if isinstance(arg, Mapping):
            yield from arg.values()
        elif isinstance(arg, tuple):
            yield from arg
        else:
            yield arg


def _fields(fmt: str) -> int:
    try:
        return sum(1 for _, field, _, _ in string.Formatter().parse(fmt) if field is not None)
    except ValueError:  # a malformed format string fails on its own, with nothing built
        return 0


def _value_of(args: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """A filter's value and its other arguments, past the environment or context Jinja passes first to some."""
    while args and isinstance(args[0], (jinja2.Environment, EvalContext, Context)):
        args = args[1:]
    return (args[0], args[1:]) if args else (None, ())


def _filter_result_size(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """An upper bound of the size of filter `name`'s result, for the filters whose output outgrows their input by a
    factor their arguments choose (0 for the others: their result is measured after)."""
    limit = current().limits.max_bytes
    if name == "wordwrap" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
        breaks = len(value) // max(width, 1) + value.count(" ") + 1 if isinstance(width, int) else 0
        return len(value) + breaks * len(wrap if isinstance(wrap, str) else "\n")
    if name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        return len(value) + (value.count("\n") + 1) * (width if isinstance(width, int) else text_size(width, limit))
    if name == "join" and isinstance(value, (list, tuple)):
        glue = args[0] if args else kwargs.get("d", "")
        return text_size(value, limit) + len(value) * text_size(glue, limit)
    if name == "sum" and isinstance(value, (list, tuple)):
        return sum(_sized(v) for v in value)
    return 0


_TEXT_FILTERS = frozenset({
    "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower", "pprint", "replace", "safe",
    "string", "striptags", "title", "tojson", "trim", "truncate", "upper", "urlencode", "urlize", "wordcount",
    "wordwrap", "xmlattr",
})  # fmt: skip
"""Filters that turn their value into text first: a list whose text is huge is refused before they do."""


def _check_method(text: Any, name: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The methods a template may call that build a value sized by their arguments, checked before they run."""
    budget, limit = current(), current().limits.max_bytes
    if isinstance(text, str) and name == "replace":
        _check_replace(text, *args[:2])
    elif isinstance(text, str) and name == "format":
        _check_format(text, [*args, *kwargs.values()])
    elif isinstance(text, str) and name == "format_map":
        _check_format(text, args)
    elif isinstance(text, str) and name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        budget.size(len(text) + text.count("\t") * max(size if isinstance(size, int) else 8, 0), "expandtabs() result")
    elif isinstance(text, str) and name == "join" and args:
        budget.size(text_size(args[0], limit) + len(text) * _sized(args[0]), "join() result")
    elif isinstance(text, str) and name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((text_size(v, limit) for v in args[0].values()), default=1)
        budget.size(len(text) * max(longest, 1), "translate() result")
    elif isinstance(text, (list, dict)) and name in ("extend", "update") and args:
        budget.size(len(text) + _sized(args[0]), f"{name}() result")


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (a Jinja filter) with its arguments checked before and its result measured after."""

    @functools.wraps(fn)  # keeps `jinja_pass_arg`, which tells Jinja what to pass first
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.step()
        value, rest = _value_of(args)
        _check_args([*rest, *kwargs.values()], f"filter '{name}'")
        if name in _TEXT_FILTERS:
            _check_text(value, f"filter '{name}' input")
        if name == "replace" and len(rest) >= 2:
            _check_replace(value, *rest[:2])
        if name == "format":
            _check_format(value, [*rest, *kwargs.values()], percent=True)
        budget.size(_filter_result_size(name, value, rest, kwargs), f"filter '{name}' result")
        result = fn(*args, **kwargs)
        budget.size(_sized(result), f"filter '{name}' result")
        return result

    return bounded


class _SizedConcat(CodeGenerator):
    """Jinja's code generator, with the parts of every `~` measured before they are joined (Jinja joins them in
    generated code the sandbox never sees otherwise)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.concat_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class BoundedEnvironment(SandboxedEnvironment):
    """`SandboxedEnvironment` that counts loop iterations and calls, and bounds the values templates build."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _SizedConcat

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self.checked_output, **options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}

    @staticmethod
    def checked_output(value: Any) -> Any:
        """Every `{{ value }}`, refused before it is turned into text over the limit."""
        _check_text(value, "an output value")
        return value

    @staticmethod
    def concat_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The parts of a `~`, refused when their text together would be over the limit."""
        limit = current().limits.max_bytes
        current().size(sum(text_size(p, limit) for p in parts), "a joined (~) string")
        return parts

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's tree with every `{% for %}` iterating through `bounded_iter`, so each iteration is a
        step however the loop was built (a range, a list from the context, a nested loop)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [loop.iter], [], None, None)
        return tree

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """`iterable`, one step per item (Undefined stays Undefined, so StrictUndefined still reports it)."""
        if isinstance(iterable, jinja2.Undefined):
            yield from iterable
            return
        budget = current()
        for item in iterable:
            budget.step()
            yield item

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes: one step, arguments checked, result measured."""
        budget = current()
        budget.step()
        if isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive loop iterates again
            args = (__self.bounded_iter(args[0]), *args[1:])
        _check_args([*args, *kwargs.values()], "a call")
        method = getattr(__obj, "__wrapped__", __obj)  # Jinja wraps `str.format` in its own safe formatter
        _check_method(getattr(method, "__self__", None), getattr(method, "__name__", None), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.size(_sized(result), "a call's result")
        return result

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `%` and `+`, refused before they would build something over the limits."""
        budget = current()
        budget.step()
        if operator_ == "+":
            if _sized(left) and _sized(right):
                budget.size(_sized(left) + _sized(right), "a concatenated (+) string or list")
            return operator.add(left, right)
        ints = all(isinstance(v, int) for v in (left, right))
        if operator_ == "*":
            for seq, n in ((left, right), (right, left)):
                if _sized(seq) and isinstance(n, int):
                    budget.size(len(seq) * max(n, 0), "a repeated string or list")
            if ints and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise BudgetExceeded(f"an integer over {MAX_INT_BITS} bits")
            return operator.mul(left, right)
        if operator_ == "**":
            if ints and right > 0 and abs(left).bit_length() * right > MAX_INT_BITS:
                raise BudgetExceeded(f"an integer over {MAX_INT_BITS} bits")
            return operator.pow(left, right)
        if isinstance(left, str):
            _check_format(left, right if isinstance(right, tuple) else [right], percent=True)
            result = left % right
            budget.size(len(result), "a formatted string")
            return result
        return operator.mod(left, right)


def render_within(template: jinja2.Template, context: dict[str, Any]) -> str:
    """`template` rendered under the current budget, its output measured as it streams."""
    budget = current()
    out: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        budget.size(size, "output")
        out.append(chunk)
    return "".join(out)
