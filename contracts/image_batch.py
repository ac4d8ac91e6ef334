"""The image batch's request and result: every image in a data directory folder, or under a storage prefix, made
into the same outputs — the common case of "thumbnail this folder" — as one workflow-shaped job.

Each image is one `make_image` step with the image job's own checks and policy; an image that fails for good (a
hostile file, a missing one) is listed with its reason and the batch goes on, as a broadcast lists its refused
recipients.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.image import MAX_OUTPUTS, ImageOutput, checked_outputs
from contracts.input_checks import path_text
from contracts.requests import JobRequest

MAX_REPORTED_FAILURES = 100
"""Failed images listed in the result (all are counted): a folder of bad files must not blow up the history."""
CONTINUE_EVERY = 500
"""Images per run before the batch continues as new, so its history stays bounded however big the folder."""
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif")
"""The files a batch picks up, by name (each is still checked by its content before it is decoded)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_of(batch_id: str, name: str) -> str:
    """The storage folder of one source's outputs: `<batch-id>/<its name, slashes and odd characters as _>`."""
    return f"{batch_id}/{_UNSAFE.sub('_', name).strip('._') or 'image'}"


class BatchSource(BaseModel):
    """Which images: the files of a data-directory folder (and its subfolders), or the keys under a storage
    prefix. Exactly one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    directory: str | None = Field(None, min_length=1, description="A folder in the worker's CONVEYOR_DATA_DIR.")
    prefix: str | None = Field(None, min_length=1, description="A storage key prefix, e.g. `uploads/2026-12/`.")

    @field_validator("directory", "prefix")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        return None if value is None else path_text(value)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.directory is None) == (self.prefix is None):
            raise ValueError("give exactly one of 'directory' (in the data directory) and 'prefix' (in storage)")
        return self


class ImageFailure(BaseModel):
    """An image the batch could not make, and why (its failure's type and message)."""

    image: str
    reason: str


class BatchState(BaseModel):
    """Where a batch is: carried across continue-as-new so each run goes on where the last one stopped."""

    cursor: int = Field(0, description="Position in the listing of the next image.")
    made: int = 0
    failed: int = 0
    total: int | None = Field(None, description="Images found, once listed.")
    failures: list[ImageFailure] = Field(default_factory=list, description="The first failures, capped.")

    def add_failure(self, failure: ImageFailure) -> None:
        """Count `failure`, keeping the first `MAX_REPORTED_FAILURES`."""
        self.failed += 1
        if len(self.failures) < MAX_REPORTED_FAILURES:
            self.failures.append(failure)


class ImageBatchJob(JobRequest):
    """Make `outputs` of every image in `source`, at most `parallel` at a time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: BatchSource
    outputs: list[ImageOutput] = Field(min_length=1, max_length=MAX_OUTPUTS)
    parallel: int = Field(4, ge=1, le=32, description="Images in flight at once (each is one activity).")
    continue_every: int = Field(CONTINUE_EVERY, ge=1, description="Start a fresh run after this many images.")
    batch_id: str | None = Field(None, max_length=200, description="Set by the workflow on continue-as-new.")
    resume: BatchState | None = Field(None, description="Set by the workflow itself on continue-as-new.")

    @field_validator("outputs")
    @classmethod
    def _distinct(cls, value: list[ImageOutput]) -> list[ImageOutput]:
        return checked_outputs(value)


class ListImagesInput(BaseModel):
    """One page of a batch's source: `limit` names from position `cursor`."""

    model_config = ConfigDict(frozen=True)

    source: BatchSource
    cursor: int
    limit: int


class ImagePage(BaseModel):
    """A page of images (data-directory paths or storage keys), where the next starts, and the total."""

    names: list[str]
    next_cursor: int | None = Field(None, description="None: the source is exhausted.")
    total: int


class ImageBatchResult(BaseModel):
    """The batch's outcome: counts, where the outputs are, and the first failed images with the reason."""

    batch_id: str
    made: int
    failed: int
    failures: list[ImageFailure]
