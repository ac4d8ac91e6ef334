"""Where files that are too big for a job's payload live: reports, large attachments.

Jobs carry storage keys, never the bytes (Temporal refuses payloads over 2 MB). `LocalStorage` is the dev
default (`.conveyor/reports/`); production uses S3 (see `activities.s3`). Both speak the `Storage` protocol.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol

from contracts.errors import AttachmentNotFound, InvalidJob, StorageUnavailable


class Storage(Protocol):
    """Read and write files by key (a relative path such as `reports/2026/x.pdf`)."""

    async def read(self, key: str) -> bytes:
        """The file's bytes; raises `AttachmentNotFound` when nothing is stored under `key`."""
        ...

    async def upload(self, key: str, path: Path, content_type: str) -> None:
        """Store the local file `path` under `key` (streamed from disk, never read whole into memory)."""
        ...

    async def download(self, key: str, path: Path, max_bytes: int) -> None:
        """Copy the file under `key` to the local `path`; `AttachmentNotFound` when nothing is stored under it,
        `TooLarge` (before copying) when it is over `max_bytes`."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """The keys stored under `prefix` (an image batch's source)."""
        ...

    async def link(self, key: str) -> str:
        """A URL that fetches the file without credentials: presigned (S3) or `file://` (local)."""
        ...

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete every file stored before `cutoff` (timezone-aware); returns how many were deleted."""
        ...


def checked_key(key: str) -> str:
    """`key` if it is a plain relative path; refuses `..`, absolute paths and empty parts (path traversal)."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidJob(f"storage key {key!r} must be a relative path without '..'")
    return key


class TooLarge(Exception):
    """A stored file is bigger than its reader accepts: `size` bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size:,} bytes")
        self.size = size


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

    async def upload(self, key: str, path: Path, content_type: str) -> None:
        """Copy the file in under a temporary name, then rename: a reader never sees half a file."""
        target = self.path(key)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, path, tmp)
            tmp.replace(target)
        except OSError as e:
            raise StorageUnavailable(f"cannot write {key!r} to {self.root}: {e.strerror}") from None

    async def download(self, key: str, path: Path, max_bytes: int) -> None:
        """Copy the file to `path`, after checking its size."""
        source = self.path(key)
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise AttachmentNotFound(f"no stored file {key!r}") from None
        if size > max_bytes:
            raise TooLarge(size)
        await asyncio.to_thread(shutil.copyfile, source, path)

    async def keys(self, prefix: str) -> list[str]:
        """The files under `prefix`, as keys (temporary files of uploads in progress left out)."""
        root = self.root.resolve()
        found = await asyncio.to_thread(lambda: [p for p in root.rglob("*") if p.is_file()])
        keys = [p.relative_to(root).as_posix() for p in found if not p.name.endswith(".tmp")]
        return [k for k in keys if k.startswith(prefix)]

    async def link(self, key: str) -> str:
        """`file:///...`: only useful on this machine, which is where `conveyor dev` users read it."""
        return self.path(key).resolve().as_uri()

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete files last written before `cutoff`; directories are left (they are cheap and may be reused)."""
        return purge_files(self.root.rglob("*"), cutoff)


def purge_files(paths: Iterable[Path], cutoff: datetime) -> int:
    """Delete the regular files among `paths` last modified before `cutoff`; returns how many were deleted.

    A file that vanishes meanwhile (another cleanup, a retried job) is not an error: it is gone either way.
    Shared by local storage and the weekly cleanup of the dev outbox.
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
