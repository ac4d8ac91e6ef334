"""What one render of a template may spend: plain data, so settings can build it without importing Jinja
(`import conveyor` stays light; `activities.sandbox` enforces it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderLimits:
    """What one render may spend (`CONVEYOR_RENDER_TIMEOUT_SECONDS`, `CONVEYOR_RENDER_MAX_BYTES`,
    `CONVEYOR_RENDER_MAX_MEMORY_MB`)."""

    timeout: float = 2.0
    """Seconds of rendering, for all the parts of one message together."""
    max_bytes: int = 1_000_000
    """Largest output, and largest string or sequence built on the way (characters or items)."""
    max_steps: int = 2_000_000
    """Loop iterations plus calls."""
    max_memory: int = 512 * 2**20
    """Address space of the render process while it renders (bytes): the operating system's limit, past which
    building a value is a `MemoryError`."""
