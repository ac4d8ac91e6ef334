"""The worker's side of rendering: a small pool of render processes (`activities.render_process`) that the event
loop only waits on.

A template from a producer can cost what the sandbox cannot count — one filter call over a million characters is
one step, and `wordwrap` took 13.7 s of one — and no thread can be stopped from outside. A process can: each render
has a deadline (its time budget plus `GRACE_SECONDS`), after which its process is killed and a new one started for
the next render; the operating system bounds each process's CPU time and address space besides, so a render
process outliving a dead worker, or a value built inside one C call, ends there too. The common path stays cheap:
processes are reused, each compiles a template once, and a render sends only the template's name or text, its
context and its limits (~0.1-0.2 ms of round trip on this machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import pickle
import signal
import sys
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from contracts.errors import TemplateError, TemplateNotFound
from contracts.render_limits import RenderLimits

PROCESSES = 2
"""Render processes per worker process: renders of templates wait for one of them, so a hostile broadcast takes at
most two cores, whatever else the worker runs; ordinary renders take a fraction of a millisecond each."""

GRACE_SECONDS = 1.0
"""How long past its time budget a render may run before its process is killed: the budget stops a render between
two steps by itself; the kill is for one step that never ends."""

STARTUP_SECONDS = 60.0
"""How long a new render process may take to import Jinja and say it is ready (seconds on a loaded machine)."""

_FRAME = 4  # bytes of length before each pickled message


class _DataOnly(pickle.Unpickler):
    """Unpickles a render process's reply: strings, numbers, tuples, nothing that names a class or function."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a render reply may not name {module}.{name}")


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_FRAME, "big") + data


class RenderProcess:
    """One render process: a request at a time, over its stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.usable = True

    @classmethod
    async def start(cls) -> RenderProcess:
        """A new render process, once it has loaded Jinja (so its first render's deadline is the render's own)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "activities.render_process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        started = cls(process)
        try:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readexactly(1), STARTUP_SECONDS)
        except BaseException:
            await started.kill()
            raise
        return started

    async def render(self, request: tuple[Any, ...], limits: RenderLimits) -> Any:
        """Send `request`, wait for its reply until the deadline; a process that died, was killed at its deadline
        or by the operating system's limits fails the render with a `TemplateError` over its budget."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(_frame((request, limits)))
            async with asyncio.timeout(limits.timeout + GRACE_SECONDS):
                await self.process.stdin.drain()
                size = int.from_bytes(await self.process.stdout.readexactly(_FRAME), "big")
                reply = _DataOnly(io.BytesIO(await self.process.stdout.readexactly(size))).load()
        except TimeoutError:
            await self.kill()
            raise over_budget(f"rendering took over {limits.timeout:g} s; its render process was stopped") from None
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.kill()
            raise over_budget(f"the render process ended ({_ended(self.process.returncode)})") from None
        except BaseException:  # cancelled (the job was): the render must not go on without anyone waiting for it
            await self.kill()
            raise
        return _outcome(reply, self)

    async def kill(self) -> None:
        """Stop the process for good (it is replaced by the next render that needs one)."""
        self.usable = False
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


def over_budget(message: str) -> TemplateError:
    """The `TemplateError` of a render that went over its budget (time, size, steps, memory, a killed process): the
    failure that counts as a strike for a broadcast (see `activities.render.STRIKES`)."""
    error = TemplateError(message)
    error.over_budget = True
    return error


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = {"SIGXCPU": "over its CPU time limit", "SIGKILL": "killed, likely out of memory"}.get(name, name)
        return f"{why}, {name}"
    return f"exit code {code}"


def _outcome(reply: Any, process: RenderProcess) -> Any:
    """The rendered value, or the render's failure raised as the job's error."""
    status, *rest = reply
    if status == "ok":
        return rest[0]
    kind, message, budget, retire = rest
    if retire:  # after a MemoryError the process's heap is best given back to the system
        process.usable = False
    if kind == "TemplateNotFound":
        raise TemplateNotFound(message)
    raise over_budget(message) if budget else TemplateError(message)


class RenderPool:
    """Up to `size` render processes, started on first use and reused; a killed one is replaced on demand."""

    def __init__(self, size: int = PROCESSES) -> None:
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[RenderProcess] = []
        self.busy: set[RenderProcess] = set()
        """The processes rendering right now (tests watch them)."""

    @contextlib.asynccontextmanager
    async def process(self) -> AsyncIterator[RenderProcess]:
        """A render process of its own for the block (waiting for one when all are busy)."""
        async with self._slots:
            process = self._idle.pop() if self._idle else await RenderProcess.start()
            self.busy.add(process)
            try:
                yield process
            finally:
                self.busy.discard(process)
                if process.usable and process.process.returncode is None:
                    self._idle.append(process)
                else:
                    await process.kill()

    async def warm(self) -> None:
        """Start every render process now (those not running yet), so the first renders do not wait for them: a
        start takes ~0.3 s of CPU here, seconds on a loaded machine."""

        async def one() -> None:
            with contextlib.suppress(Exception):  # a process that cannot start fails the render that needs it
                async with self.process():
                    pass

        await asyncio.gather(*(one() for _ in range(self.size)))

    async def render(self, request: tuple[Any, ...], limits: RenderLimits, before: Callable[[], None]) -> Any:
        """`request` rendered by one of the processes; `before` runs once a process is free, before it renders
        (renders queued behind a broadcast's strikes need not run)."""
        async with self.process() as process:
            before()
            return await process.render(request, limits)


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RenderPool] = weakref.WeakKeyDictionary()


def shared() -> RenderPool:
    """This event loop's render pool: one per worker process (its pipes belong to the loop that started them)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = RenderPool()
    return pool
