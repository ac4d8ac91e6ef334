"""The image job: fetch one source image, make its outputs from one decode, store them beside reports.

It is an activity-shaped job (one standalone activity), and a batch's step (`make_image`, see
`workflows.image_batch`). libvips work is CPU-bound and blocks, so it runs in this class's own thread pool, sized
by the image queue's concurrency (the worker's slots on that queue are the same number), and libvips gets the
machine's cores divided among those threads (`thumbnails.configure`): images never take the event loop or the
slots that email and SMS need.

A source that is no acceptable image fails at once, non-retryably, typed `ImageRejected` with the reason (see
`activities.thumbnails`), a missing one `ImageNotFound`, a path out of the data directory `InvalidJob`; nothing is
stored then, since outputs are uploaded only once every one of them is made. A retried job writes the same keys
(`<job-id>/<name>.<ext>`), so a job has one set of outputs however often it ran.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.data_files import data_file, reading_under
from activities.image_types import Limits, Made, Source, too_big
from activities.liveness import alive
from activities.storage import Storage, TooLarge
from contracts.errors import AttachmentNotFound, ImageNotFound, ImageRejected, failures_typed
from contracts.image import ImageJob, ImageResult, MakeImageInput, StoredImage
from contracts.inputs import any_inputs, decode
from contracts.progress import Progress


class ImageActivities:
    """Makes images. Built once per worker with storage, the data directory, the limits and the concurrency."""

    def __init__(self, storage: Storage, *, data_dir: Path, limits: Limits, concurrency: int = 2) -> None:
        self.storage = storage
        self.data_dir = data_dir
        self.limits = limits
        self.concurrency = concurrency
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="image")

    @activity.defn(name="image")
    @any_inputs
    async def image(self, *raw: Any) -> ImageResult:
        """The image job itself, run as a standalone activity: its one input is an `ImageJob` as JSON, its id the
        job id (the folder of its outputs). Failures are raised typed: see `contracts.errors`."""
        with failures_typed():
            return await self.make(activity.info().activity_id, decode(raw, ImageJob))

    @activity.defn(name="make_image")
    async def make_image(self, request: MakeImageInput) -> ImageResult:
        """One image as a batch's step, its outputs stored under `request.folder`."""
        with failures_typed():
            return await self.make(request.folder, request.job)

    async def make(self, folder: str, job: ImageJob) -> ImageResult:
        """Fetch, check, decode once, make every output, then store them all under `folder/`."""
        progress = Progress(stage="reading")
        async with alive(lambda: progress):
            with tempfile.TemporaryDirectory(prefix="conveyor-image-") as tmp:
                path = await self._fetched(job, Path(tmp))
                progress = Progress(stage="resizing", total=len(job.outputs), unit="outputs")

                def done(n: int) -> None:
                    progress.done = n  # read by the heartbeat on the loop: an int store is atomic

                loop = asyncio.get_running_loop()
                source, made = await loop.run_in_executor(self.pool, self._made, path, job, Path(tmp), done)
                progress = Progress(stage="storing", done=len(made), total=len(made), unit="outputs")
                stored = [await self._stored(folder, m) for m in made]
        return ImageResult(
            source_width=source.width, source_height=source.height, source_format=source.format, outputs=stored
        )

    def _made(self, path: Path, job: ImageJob, tmp: Path, done: Callable[[int], None]) -> tuple[Source, list[Made]]:
        """In a pool thread: the checked source, and its outputs made in `tmp/out/`."""
        from activities import thumbnails  # libvips (~8.5 MB) loads with a worker's first image, not at its start

        thumbnails.configure(self.concurrency)
        source = thumbnails.checked(path, self.limits)
        out = tmp / "out"
        out.mkdir()
        return source, thumbnails.make(source, job.outputs, out, done)

    async def _fetched(self, job: ImageJob, tmp: Path) -> Path:
        """The source as a local file: the data-directory file itself, or a copy of the stored one."""
        if job.source.file is not None:
            with reading_under(self.data_dir):
                path = data_file(job.source.file)
            if not path.is_file():
                raise ImageNotFound(f"no file {job.source.file!r} in the data directory")
            return path
        key = job.source.stored or ""
        path = tmp / "source"
        try:
            await self.storage.download(key, path, self.limits.max_bytes)
        except AttachmentNotFound:
            raise ImageNotFound(f"no stored file {key!r}") from None
        except TooLarge as e:
            raise ImageRejected(too_big(e.size, self.limits.max_bytes)) from None
        return path

    async def _stored(self, folder: str, made: Made) -> StoredImage:
        key = f"{folder}/{made.path.name}"
        await self.storage.upload(key, made.path, made.output.format.content_type)
        return StoredImage(
            name=made.path.stem,
            format=made.output.format,
            width=made.width,
            height=made.height,
            bytes=made.path.stat().st_size,
            key=key,
            url=await self.storage.link(key),
        )
