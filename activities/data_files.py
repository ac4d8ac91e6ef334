"""The files a job may read on the worker's machine: only those in the data directory (`CONVEYOR_DATA_DIR`).

A job's input comes from any producer with an API key or a Temporal client. A source that opened whatever path it
was given would let one mail themselves any file the worker can read (`csv:/etc/...` into a broadcast, the
`csv-file` report of a secrets file). So the file-reading sources (`csv:` recipients, the `csv-file` report, and
yours) open their paths through `data_file`, which resolves a path inside the worker's data directory and refuses
any that leads out of it, by `..` or by a symlink.

The directory is the worker's setting, set around a source's run with `reading_under`: sources keep their simple
signature (an argument in, rows or recipients out).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from contracts.errors import InvalidJob

_DATA_DIR: ContextVar[Path | None] = ContextVar("conveyor_data_dir", default=None)


@contextlib.contextmanager
def reading_under(data_dir: Path) -> Iterator[None]:
    """Inside the block, `data_file` resolves paths in `data_dir`."""
    token = _DATA_DIR.set(data_dir.resolve())
    try:
        yield
    finally:
        _DATA_DIR.reset(token)


def data_file(path: str | Path) -> Path:
    """`path` (relative to the data directory, or absolute inside it) as a real path inside the data directory;
    `InvalidJob` (permanent) for any other path, or when no data directory is set."""
    root = _DATA_DIR.get()
    if root is None:
        raise InvalidJob("this worker reads no files: it has no data directory (CONVEYOR_DATA_DIR)")
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise InvalidJob(f"{str(path)!r} is outside the data directory: put the file in the worker's CONVEYOR_DATA_DIR")
    return full
