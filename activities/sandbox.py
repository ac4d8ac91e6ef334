"""A Jinja sandbox that bounds what a template may cost: steps, time, and the size of every value it builds.

Jinja's own `SandboxedEnvironment` stops a template from reaching Python's internals, but not from spending the
worker: two nested loops over `range(100000)` run for minutes, and `{{ 'x' * 50000000 }}` builds 50 MB in half a
second. Templates come from producers (an SMS broadcast's body is one), so every render here runs under a
`Budget`:

- every loop iteration and every call (functions, macros, methods, a recursive loop) is a *step*; a render may
  take `max_steps` of them, and checks its deadline as it goes, so an over-budget render stops itself — even in
  a thread, which nothing could otherwise stop;
- `*`, `**` and `%` on strings, sequences and integers, string methods and filters are refused *before* they
  build a value over `max_bytes` (or an integer over `MAX_INT_BITS`), and the output is measured as it streams.

An exhausted budget raises `BudgetExceeded`, a `BaseException`, so no `except Exception` inside a filter or a
macro can swallow it; `activities.render` turns it into the job's `TemplateError`.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.runtime import LoopContext
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
    """The render ran out of time (the costly way to fail: see `activities.render.bounded`)."""


class OverSlice(BaseException):
    """The render outgrew the short slice it may take on the event loop: run it again in a thread."""


class Budget:
    """One render's allowance; `step` is called on every iteration and call."""

    def __init__(self, limits: RenderLimits, slice_seconds: float | None = None) -> None:
        self.limits = limits
        self.steps = 0
        now = time.monotonic()
        self.deadline = now + limits.timeout
        self.slice_end = now + slice_seconds if slice_seconds is not None else None

    def step(self) -> None:
        """Count one step and check the clock (~60 ns): one step may be a filter over 100,000 items, so checking
        only every so many steps could hold the event loop for seconds."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(f"over {self.limits.max_steps:,} loop iterations and calls")
        now = time.monotonic()
        if self.slice_end is not None and now > self.slice_end:
            raise OverSlice
        if now > self.deadline:
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
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


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


def _check_format(fmt: Any, args: Iterable[Any]) -> None:
    if isinstance(fmt, str) and _BIG_NUMBER.search(fmt):
        raise BudgetExceeded("a format width or precision of a million or more")
    _check_args(args, "a format argument")


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` (a Jinja filter) with its arguments checked before and its result measured after."""

    @functools.wraps(fn)  # keeps `jinja_pass_arg`, which tells Jinja what to pass first
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.step()
        _check_args([*args[1:], *kwargs.values()], f"filter '{name}'")
        if name == "replace" and len(args) >= 4:
            _check_replace(*args[1:4])
        if name == "format" and len(args) >= 1:
            _check_format(args[0], args[1:])
        result = fn(*args, **kwargs)
        budget.size(_sized(result), f"filter '{name}' result")
        return result

    return bounded


class BoundedEnvironment(SandboxedEnvironment):
    """`SandboxedEnvironment` that counts loop iterations and calls, and bounds the values templates build."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}

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
        text, name = getattr(method, "__self__", None), getattr(method, "__name__", None)
        if isinstance(text, str) and name == "replace":
            _check_replace(text, *args[:2])
        if isinstance(text, str) and name in ("format", "format_map"):
            _check_format(text, [*args, *kwargs.values()])
        result = super().call(__context, __obj, *args, **kwargs)
        budget.size(_sized(result), "a call's result")
        return result

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        """`*`, `**` and `%`, refused before they would build something over the limits."""
        budget = current()
        budget.step()
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
            _check_format(left, right if isinstance(right, tuple) else [right])
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
