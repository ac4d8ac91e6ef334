"""Image files for the image job's tests, made with Pillow (an independent encoder and, reading outputs back, an
independent decoder): ordinary photos and hostile files alike."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

ORIENTATION, MAKE = 0x0112, 0x010F
RED, BLUE = (230, 20, 20), (20, 20, 230)


def turned_jpeg(path: Path) -> Path:
    """A 300 x 200 JPEG, red on top and blue below, with EXIF orientation 6 (shown turned 90° clockwise: 200 x 300,
    blue on the left, red on the right) and a camera make that stripping must drop."""
    image = Image.new("RGB", (300, 200), BLUE)
    image.paste(RED, (0, 0, 300, 100))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "ConveyorCam"
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def alpha_png(path: Path) -> Path:
    """A 400 x 200 RGBA PNG: an opaque green square in the middle of a transparent field."""
    image = Image.new("RGBA", (400, 200), (0, 0, 0, 0))
    image.paste((20, 200, 20, 255), (150, 50, 250, 150))
    image.save(path, "PNG")
    return path


def photo_jpeg(path: Path, width: int = 6000, height: int = 4000, progressive: bool = False) -> Path:
    """A camera-sized JPEG (6000 x 4000 by default): gradients under sensor-like noise, so that it weighs what a
    photo weighs (~1 byte a pixel) and decoders and encoders have real work."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 24)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    image.save(path, "JPEG", quality=85, progressive=progressive)
    return path


def png_bomb(path: Path, side: int = 50_000) -> Path:
    """A few hundred bytes declaring `side` x `side` RGB pixels (7.5 GB decoded at 50,000): a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * side) * 4, 9)  # a few rows: the header is all a bomb needs
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def truncated_jpeg(path: Path) -> Path:
    """A real JPEG cut in half."""
    whole = photo_jpeg(path, 800, 600)  # noisy: a flat picture's first half can hold every scan it needs
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def laughing_svg(path: Path) -> Path:
    """An SVG whose XML entities expand a billion-fold ("billion laughs")."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE svg [{"".join(entities)}]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><text>&lol9;</text></svg>\n'
    )
    return path
