"""The image batch's listing step: the images of a data-directory folder or under a storage prefix, a page at a
time, in a stable (sorted) order, so a batch that continues as new or is retried resumes at the same place.

Files are picked by name (`contracts.image_batch.SUFFIXES`); each is still checked by its content before it is
decoded (`activities.thumbnails`). A folder outside the data directory fails the batch at once (`InvalidJob`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities.data_files import data_file, reading_under
from activities.storage import Storage
from contracts.errors import ImageNotFound, failures_typed
from contracts.image_batch import SUFFIXES, ImagePage, ListImagesInput


class ImageListing:
    """Lists a batch's images. Built once per worker with storage and the data directory."""

    def __init__(self, storage: Storage, data_dir: Path) -> None:
        self.storage = storage
        self.data_dir = data_dir

    @activity.defn(name="list_images")
    async def list_images(self, request: ListImagesInput) -> ImagePage:
        """`request.limit` images from position `request.cursor`, and how many there are in all."""
        with failures_typed():
            names = await self._names(request)
        page = names[request.cursor : request.cursor + request.limit]
        end = request.cursor + len(page)
        return ImagePage(names=page, next_cursor=end if end < len(names) else None, total=len(names))

    async def _names(self, request: ListImagesInput) -> list[str]:
        if request.source.prefix is not None:
            keys = await self.storage.keys(request.source.prefix)
            return sorted(k for k in keys if k.lower().endswith(SUFFIXES))
        with reading_under(self.data_dir):
            folder = data_file(request.source.directory or "")
        if not folder.is_dir():
            raise ImageNotFound(f"no folder {request.source.directory!r} in the data directory")
        root = self.data_dir.resolve()
        files = await asyncio.to_thread(lambda: [p for p in folder.rglob("*") if p.is_file()])
        return sorted(str(p.relative_to(root)) for p in files if p.name.lower().endswith(SUFFIXES))
