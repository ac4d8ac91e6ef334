"""Where files that are too big for a job's payload live: reports, large attachments.

Jobs carry storage keys, never the bytes (Temporal refuses payloads over 2 MB). `LocalStorage` is the dev
default (`.conveyor/reports/`); production uses S3 (see `activities.s3`). Both speak the `Storage` protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol

from activities.errors import AttachmentNotFound, InvalidJob


class Storage(Protocol):
    """Read and write files by key (a relative path such as `reports/2026/x.pdf`)."""

    async def read(self, key: str) -> bytes:
        """The file's bytes; raises `AttachmentNotFound` when nothing is stored under `key`."""
        ...

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every file last written before `cutoff` (retention); returns how many were deleted."""
        ...


def checked_key(key: str) -> str:
    """`key` if it is a plain relative path; refuses `..`, absolute paths and empty parts (path traversal)."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidJob(f"storage key {key!r} must be a relative path without '..'")
    return key


class LocalStorage:
    """Files in a directory: the storage of `conveyor dev` and of single-machine installs."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file that holds `key`."""
        return self.root / checked_key(key)

    async def read(self, key: str) -> bytes:
        """The file's bytes (small files only: attachments)."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise AttachmentNotFound(f"no stored file {key!r}") from None

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every file under the root last modified before `cutoff`; returns how many."""
        return purge_files(self.root.rglob("*"), cutoff)


def purge_files(paths: Iterable[Path], cutoff: datetime) -> int:
    """Delete the regular files among `paths` last modified before `cutoff`; returns how many were deleted.

    A file that vanishes meanwhile (another cleanup, a retried job) is not an error: it is gone either way.
    """
    limit = cutoff.timestamp()
    deleted = 0
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
