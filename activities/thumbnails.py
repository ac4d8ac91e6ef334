"""The image job's libvips part: check a source file, decode it once, make every output from that one decode.

A hostile file is refused before libvips decodes a pixel of it, each for a reason the job's failure names:
- the file is opened as a libvips *source*, never by file name (a name's `[...]` suffix would be read as loader
  options), and its loader is chosen by its first bytes; only the loaders of `ACCEPTED` run, whatever the file's
  name: a text file named `.jpg` is "not an image", and so is an SVG (XML entities, external references) or a
  PDF, since libvips' untrusted loaders are blocked (`block_untrusted`); a TIFF is a format "not accepted";
- the width x height the header declares is capped (`Limits.max_pixels`) before decoding: a 50,000 x 50,000 PNG
  of a few hundred bytes (a decompression bomb) never allocates its 7.5 GB;
- the decode fails on the first libjpeg/libpng error (`fail_on="error"`), so a truncated or damaged file fails
  instead of yielding a half-grey picture.

One decode: `thumbnail` opens the file with shrink-on-load (a JPEG decodes at 1/2, 1/4 or 1/8 of its size when
the largest output needs no more) and sequential access, auto-rotates by the EXIF orientation, and the result
stays in memory at the scale of the largest output; each output is cut from it (`thumbnail_image`, crops,
padding) and encoded. A 24-megapixel JPEG made into three thumbnails is read once, never at full size.

Everything here blocks (libvips releases the GIL while it works): `activities.image` runs it in its thread pool.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyvips

from activities.image_types import Limits, Made, Source, too_big
from contracts.errors import ImageRejected, InvalidJob
from contracts.image import Crop, Fit, ImageFormat, ImageOutput

ACCEPTED = {
    "VipsForeignLoadJpegSource": "jpeg",
    "VipsForeignLoadPngSource": "png",
    "VipsForeignLoadWebpSource": "webp",
    "VipsForeignLoadNsgifSource": "gif",
    "VipsForeignLoadHeifSource": "heif",
}
"""The loaders an image job runs (libvips' class names, sniffed from the file's first bytes), and the format each
reads. Everything else — SVG, PDF, TIFF, raw matrix and FITS files, ImageMagick — is refused."""

SAVERS = {ImageFormat.JPEG: "jpegsave", ImageFormat.PNG: "pngsave", ImageFormat.WEBP: "webpsave",
          ImageFormat.AVIF: "heifsave"}  # fmt: skip
"""The libvips operation that writes each output format (AVIF through libheif, when the build has it)."""

FAIL_ON = "error"
"""libvips' `fail_on`: stop at the first decoder error (truncated, damaged), not only at fatal ones. `thumbnail`
passes it to the loader only in its option string (a keyword is ignored there: checked with libvips 8.18)."""

POSITIONS = {
    Crop.NORTH: "north", Crop.SOUTH: "south", Crop.EAST: "east", Crop.WEST: "west", Crop.NORTHEAST: "north-east",
    Crop.NORTHWEST: "north-west", Crop.SOUTHEAST: "south-east", Crop.SOUTHWEST: "south-west",
}  # fmt: skip
"""Crop positions libvips' `thumbnail` has no `crop` for: cut with `gravity` (its compass names) instead."""

WHITE, TRANSPARENT = [255.0, 255.0, 255.0], [0.0, 0.0, 0.0, 0.0]


@functools.cache
def configure(concurrency: int) -> None:
    """Set libvips up for a worker running `concurrency` images at once: each gets the machine's cores divided
    among them as threads, untrusted loaders are blocked, and no operation cache holds images or open files.
    Called before each image; does its work once."""
    pyvips.concurrency_set(max(1, (os.cpu_count() or 1) // concurrency))
    pyvips.block_untrusted_set(True)
    pyvips.cache_set_max(0)


def writable(fmt: ImageFormat) -> bool:
    """Whether this libvips build can write `fmt` (AVIF needs libheif with an AV1 encoder)."""
    return pyvips.type_find("VipsOperation", SAVERS[fmt]) != 0


def checked(path: Path, limits: Limits) -> Source:
    """`path` as a `Source`, or `ImageRejected` naming why it is not one this worker decodes. Reads the header
    only."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ImageRejected(too_big(size, limits.max_bytes))
    loader = loader_of(path)
    if loader is None:
        raise ImageRejected(f"the file is not an image in a format this worker reads ({', '.join(ACCEPTED.values())})")
    fmt = ACCEPTED.get(loader)
    if fmt is None:
        shown = loader.removeprefix("VipsForeignLoad").removesuffix("Source").lower()
        raise ImageRejected(f"{shown} images are not accepted (accepted: {', '.join(ACCEPTED.values())})")
    try:
        header = pyvips.Operation.call(loader, source(path), access="sequential", fail_on=FAIL_ON)
    except pyvips.Error as e:
        raise ImageRejected(f"the {fmt} header is damaged: {reason(e)}") from None
    pixels = header.width * header.height
    if pixels > limits.max_pixels:
        raise ImageRejected(
            f"the {fmt} declares {header.width:,} x {header.height:,} = {pixels:,} pixels, over the "
            f"{limits.max_pixels:,}-pixel limit (a decompression bomb?)"
        )
    turned = header.get_typeof("orientation") != 0 and header.get("orientation") in (5, 6, 7, 8)
    width, height = (header.height, header.width) if turned else (header.width, header.height)
    return Source(path, fmt, width, height)


def source(path: Path) -> pyvips.Source:
    """`path` opened as a libvips source (read by libvips' loaders; its name is never parsed for options)."""
    return pyvips.Source.new_from_file(str(path))


def loader_of(path: Path) -> str | None:
    """The class name of the libvips loader that would read `path`, from its first bytes; None if none would.
    (pyvips wraps this only inside `new_from_source`, which would go on to run whatever loader it found.)"""
    found = pyvips.vips_lib.vips_foreign_find_load_source(source(path).pointer)
    return None if found == pyvips.ffi.NULL else str(pyvips.ffi.string(found).decode())


def reason(error: pyvips.Error) -> str:
    """libvips' first line about `error`, without the file's path (a temporary name, or the data directory)."""
    detail = (error.detail or error.message or "").strip().splitlines()
    line = detail[0] if detail else "unknown error"
    return line.split(": ", 1)[1] if line.count(": ") and "/" in line.split(": ", 1)[0] else line


def scale_needed(output: ImageOutput, width: int, height: int) -> float:
    """How much of the source's size `output` needs (1 = full size), to decode no larger than the largest one."""
    across = output.width / width if output.width else None
    down = output.height / height if output.height else None
    if across is None or down is None:
        return across or down or 1.0
    if output.fit in (Fit.COVER, Fit.FILL):
        return max(across, down)
    return min(across, down)


def make(checked: Source, outputs: list[ImageOutput], folder: Path, done: Callable[[int], None]) -> list[Made]:
    """Decode `checked` once and make `outputs` in `folder`, calling `done(n)` as each is written."""
    scale = min(1.0, max(scale_needed(o, checked.width, checked.height) for o in outputs))
    box_w, box_h = max(1, math.ceil(checked.width * scale)), max(1, math.ceil(checked.height * scale))
    try:
        # Shrink-on-load, sequential, auto-rotated; copied to memory: every output is cut from this one decode.
        decoded = pyvips.Image.thumbnail_source(
            source(checked.path), box_w, height=box_h, option_string=f"fail_on={FAIL_ON}"
        ).copy_memory()
    except pyvips.Error as e:
        raise ImageRejected(f"the {checked.format} does not decode (truncated or damaged?): {reason(e)}") from None
    made: list[Made] = []
    for n, output in enumerate(outputs, start=1):
        if not writable(output.format):
            raise InvalidJob(f"this worker's libvips cannot write {output.format.value}")
        image = shaped(decoded, output)
        path = folder / output.stored_name
        save(image, output, path)
        made.append(Made(output, path, image.width, image.height))
        done(n)
    return made


def shaped(image: pyvips.Image, output: ImageOutput) -> pyvips.Image:
    """`image` resized, cropped or padded as `output` says."""
    width, height = output.width, output.height
    if width is None or height is None:  # one side given: scale to it
        return image.thumbnail_image(width or 10_000_000, height=height or 10_000_000)
    if output.fit is Fit.FILL:
        return image.thumbnail_image(width, height=height, size="force")
    if output.fit is Fit.INSIDE:
        return image.thumbnail_image(width, height=height)
    if output.fit is Fit.CONTAIN:
        inside = image.thumbnail_image(width, height=height)
        if output.format is ImageFormat.JPEG:  # no alpha: pad with white
            flat = inside.flatten(background=WHITE) if inside.hasalpha() else inside
            return flat.gravity("centre", width, height, extend="background", background=WHITE[: flat.bands])
        see_through = inside if inside.hasalpha() else inside.bandjoin(255)
        return see_through.gravity(
            "centre", width, height, extend="background", background=TRANSPARENT[: see_through.bands]
        )
    if output.crop in POSITIONS:  # cover at a position: scale to cover the box, then cut it at that side
        k = max(width / image.width, height / image.height)
        covered = image.thumbnail_image(math.ceil(image.width * k), height=math.ceil(image.height * k))
        return covered.gravity(POSITIONS[output.crop], width, height)
    return image.thumbnail_image(width, height=height, crop=output.crop.value)


def save(image: pyvips.Image, output: ImageOutput, path: Path) -> None:
    """Encode `image` to `path` in `output`'s format and quality, metadata stripped unless asked to keep it."""
    if output.format is ImageFormat.JPEG and image.hasalpha():
        image = image.flatten(background=WHITE)
    options: dict[str, Any] = {"keep": "icc" if output.strip else "all"}
    if output.format is ImageFormat.PNG:
        options["compression"] = 6
    else:
        options["Q"] = output.quality
    if output.format is ImageFormat.AVIF:
        options |= {"compression": "av1", "effort": 2}
    if output.format is ImageFormat.JPEG:
        options["optimize_coding"] = True
    pyvips.Operation.call(SAVERS[output.format], image, str(path), **options)
