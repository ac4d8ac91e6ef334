"""The image job's plain records, apart from libvips: a worker builds its image activities from these at start,
and `activities.thumbnails` (libvips, ~8.5 MB of a worker's memory) is loaded by its first image job instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.image import ImageOutput


@dataclass(frozen=True)
class Limits:
    """What one source may cost the worker (settings `image_max_bytes`, `image_max_pixels`)."""

    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Made:
    """One output, encoded to a local file."""

    output: ImageOutput
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class Source:
    """A checked source: its loader's format and its size as shown (after EXIF auto-rotation)."""

    path: Path
    format: str
    width: int
    height: int


def too_big(size: int, limit: int) -> str:
    """Why a file over the byte limit is refused."""
    return f"the file is {size:,} bytes, over the {limit:,}-byte limit"
