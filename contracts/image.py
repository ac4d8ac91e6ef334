"""The image job's request and result: the JSON contract of the `image` kind (and of its batch form).

An image job reads one source image — a file in the worker's data directory or a key in report storage — and
makes several outputs from one decode (three thumbnail sizes, a WebP and a JPEG of the same picture). Everything a
producer can get wrong is checked here (sizes, names, formats), so the client, the CLI, the HTTP API and the
activity itself refuse the same input with the same message. What only the file can tell — is it an image, how
big, is it whole — is the activity's to check (`activities.image`), before it decodes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.input_checks import path_text
from contracts.requests import JobRequest

MAX_SIDE = 8192
"""Widest or tallest output: a thumbnail service, not a print shop (an 8192² RGBA image is 256 MB in memory)."""
MAX_OUTPUTS = 10
"""Outputs one job makes from its one decode."""
NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
"""An output's name: it names the stored file (`<job-id>/<name>.<format>`)."""


class ImageFormat(StrEnum):
    """What an output is encoded as. AVIF needs a libvips built with it (the `pyvips[binary]` wheel is)."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def suffix(self) -> str:
        """The stored file's extension."""
        return "jpg" if self is ImageFormat.JPEG else self.value

    @property
    def content_type(self) -> str:
        """The MIME type of the file."""
        return f"image/{self.value}"


class Fit(StrEnum):
    """How an output fills its `width` x `height` box (sharp's names)."""

    COVER = "cover"
    """Fill the box, cropping what overflows (where `crop` says): exactly width x height."""
    CONTAIN = "contain"
    """Fit inside the box and pad the rest (transparent where the format has alpha, else white): exactly the box."""
    INSIDE = "inside"
    """Fit inside the box, keeping the aspect ratio: at most width x height, nothing cropped or padded."""
    FILL = "fill"
    """Stretch to the box, ignoring the aspect ratio: exactly width x height."""


class Crop(StrEnum):
    """Which part a `cover` output keeps: a position, or a smart crop (libvips' `attention`: skin, saturation and
    edges; `entropy`: the busiest region)."""

    CENTRE = "centre"
    NORTH = "north"
    SOUTH = "south"
    EAST = "east"
    WEST = "west"
    NORTHEAST = "northeast"
    NORTHWEST = "northwest"
    SOUTHEAST = "southeast"
    SOUTHWEST = "southwest"
    ATTENTION = "attention"
    ENTROPY = "entropy"


class ImageOutput(BaseModel):
    """One image the job makes from the source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(
        None, pattern=NAME, description="Names the stored file (`<job-id>/<name>.<ext>`); default `<w>x<h>`."
    )
    width: int | None = Field(None, ge=1, le=MAX_SIDE, description="Box width in pixels (height alone: scaled).")
    height: int | None = Field(None, ge=1, le=MAX_SIDE, description="Box height in pixels (width alone: scaled).")
    fit: Fit = Field(Fit.COVER, description="cover, contain, inside or fill, when both width and height are given.")
    crop: Crop = Field(Crop.CENTRE, description="What `cover` keeps: a position, or attention / entropy.")
    format: ImageFormat = ImageFormat.WEBP
    quality: int = Field(80, ge=1, le=100, description="Lossy quality (JPEG, WebP, AVIF); PNG is lossless.")
    strip: bool = Field(True, description="Drop metadata (EXIF with its GPS position, XMP, IPTC; ICC is kept).")

    @model_validator(mode="after")
    def _a_size(self) -> Self:
        if self.width is None and self.height is None:
            raise ValueError("an output needs a width, a height or both")
        return self

    @property
    def stored_name(self) -> str:
        """The stored file's name: `<name>.<ext>`."""
        size = f"{self.width or ''}x{self.height or ''}"
        return f"{self.name or size}.{self.format.suffix}"


class ImageSource(BaseModel):
    """Where the source image is: exactly one of a data-directory file or a storage key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = Field(
        None, min_length=1, description="A file in the worker's CONVEYOR_DATA_DIR (relative to it, or inside it)."
    )
    stored: str | None = Field(
        None, min_length=1, description="A key in report storage (local or S3), e.g. `uploads/u1/avatar.jpg`."
    )

    @field_validator("file", "stored")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else path_text(value)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.file is None) == (self.stored is None):
            raise ValueError("give exactly one of 'file' (in the data directory) and 'stored' (a storage key)")
        return self

    def describe(self) -> str:
        """`file 'a.jpg'` or `stored 'uploads/a.jpg'`, for messages."""
        return f"file {self.file!r}" if self.file is not None else f"stored {self.stored!r}"


def checked_outputs(outputs: list[ImageOutput]) -> list[ImageOutput]:
    """`outputs` if their stored names differ (two outputs must not overwrite one file)."""
    names = [o.stored_name for o in outputs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two outputs would be stored as {', '.join(twice)}: give them different names")
    return outputs


class ImageJob(JobRequest):
    """Make `outputs` (sizes, crops, formats) from one source image, stored beside reports, with links."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: ImageSource
    outputs: list[ImageOutput] = Field(min_length=1, max_length=MAX_OUTPUTS)

    @field_validator("source", mode="before")
    @classmethod
    def _plain_file(cls, value: Any) -> Any:
        """A plain string is a data-directory file: `"photos/a.jpg"`."""
        return {"file": value} if isinstance(value, str) else value

    @field_validator("outputs")
    @classmethod
    def _distinct(cls, value: list[ImageOutput]) -> list[ImageOutput]:
        return checked_outputs(value)


class StoredImage(BaseModel):
    """One output in storage: what it is, and where."""

    name: str
    format: ImageFormat
    width: int
    height: int
    bytes: int
    key: str
    url: str = Field(description="Download link: presigned (S3) or file:// (local).")


class ImageResult(BaseModel):
    """The job's result: the source's size and format as read, and every output."""

    source_width: int = Field(description="After EXIF auto-rotation.")
    source_height: int
    source_format: str = Field(description="The format libvips read it as: jpeg, png, webp, gif, heif.")
    outputs: list[StoredImage]


class MakeImageInput(BaseModel):
    """What `make_image` needs as a batch's step: the job, and the storage folder its outputs go in."""

    model_config = ConfigDict(frozen=True)

    folder: str
    job: ImageJob
