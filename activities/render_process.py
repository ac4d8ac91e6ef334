"""A render process (`python -m activities.render_process`): renders what the worker's `RenderPool` sends it, one
request at a time, under the operating system's limits.

Before each render it sets its own CPU-time limit to what it has used plus the render's time budget (the kernel
ends it with SIGXCPU past that, even if the worker is gone) and its address space to the render's memory limit (a
value too big to build is a `MemoryError`, not a worker swapping). It compiles each template once: named
templates through Jinja's cache, inline ones through `activities.render`'s. It exits when its stdin closes.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import sys
from pathlib import Path
from typing import Any, BinaryIO

from activities.render import TemplateRenderer, render_text
from activities.render_pool import GRACE_SECONDS
from activities.sandbox import Budget, within
from contracts.errors import TemplateError, TemplateNotFound
from contracts.render_limits import RenderLimits

_renderers: dict[tuple[str | None, RenderLimits], TemplateRenderer] = {}


def _limit(limits: RenderLimits) -> None:
    """This process's CPU time and address space for the next render."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for which, soft in (
        (resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime + limits.timeout + GRACE_SECONDS)),
        (resource.RLIMIT_AS, limits.max_memory),
    ):
        hard = resource.getrlimit(which)[1]
        resource.setrlimit(which, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _render(request: tuple[Any, ...], limits: RenderLimits) -> Any:
    kind, *args = request
    if kind == "named":
        templates_dir, name, context = args
        key = (templates_dir, limits)
        if key not in _renderers:
            _renderers[key] = TemplateRenderer(Path(templates_dir) if templates_dir else None, limits)
        done = _renderers[key].render(name, context)
        return done.subject, done.text, done.html
    source, context = args
    return within(Budget(limits), lambda: render_text(source, context))


def reply(request: tuple[Any, ...], limits: RenderLimits) -> tuple[Any, ...]:
    """`("ok", value)`, or `("error", type, message, over budget, retire this process)`: plain data only."""
    _limit(limits)
    try:
        return ("ok", _render(request, limits))
    except TemplateNotFound as e:
        return ("error", "TemplateNotFound", str(e), False, False)
    except TemplateError as e:
        return ("error", "TemplateError", str(e), e.over_budget, False)
    except MemoryError:
        message = f"rendering went over the {limits.max_memory // 2**20} MB memory limit"
        return ("error", "TemplateError", message, True, True)


def _read(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    return data if len(data) == n else None


def main() -> None:
    """Serve requests on stdin until it closes; replies on what was stdout (stdout itself goes to stderr, so a
    stray print cannot break a reply)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the worker ends us
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would dump core
    requests = sys.stdin.buffer
    out.write(b"R")
    out.flush()
    while (head := _read(requests, 4)) is not None:
        body = _read(requests, int.from_bytes(head, "big"))
        if body is None:
            return
        request, limits = pickle.loads(body)
        try:
            data = pickle.dumps(reply(request, limits), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps(("error", "TemplateError", "rendering ran out of memory", True, True))
        out.write(len(data).to_bytes(4, "big") + data)
        out.flush()


if __name__ == "__main__":
    main()
