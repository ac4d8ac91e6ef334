"""`ImageBatch`: every image of a folder (or under a storage prefix) made into the same outputs.

The workflow lists the images a page at a time (`list_images`) and keeps at most `parallel` `make_image`
activities in flight — each one image, with the image job's checks and policy, on the image queue — so a folder
of thousands neither floods the workflow task with events nor the workers with decodes. An image that fails for
good is listed with its reason and the batch goes on. After `continue_every` images it continues as new, carrying
its state, so its history stays bounded.

A worker killed mid-batch loses only the images it was making: their activities time out on their heartbeat and
run again elsewhere, writing the same keys (`<batch-id>/<image>/<output>`), so the batch ends with one set of
outputs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.image import ImageActivities
    from activities.image_listing import ImageListing
    from contracts.image import ImageJob, ImageSource, MakeImageInput
    from contracts.image_batch import (
        BatchState,
        ImageBatchJob,
        ImageBatchResult,
        ImageFailure,
        ImagePage,
        ListImagesInput,
        folder_of,
    )
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from workflows.job import JOB_FAILURES, JobWorkflow, job_failure
    from workflows.policies import POLICIES

__all__ = ["ImageBatch"]

PAGE = 100
"""Images listed per `list_images` call."""


@workflow.defn(name="ImageBatch")
class ImageBatch(JobWorkflow):
    """Make the outputs of every image in a folder. Input: an `ImageBatchJob`. Result: an `ImageBatchResult`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = BatchState()

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> ImageBatchResult:
        """List, make in bounded parallel, continue as new every `continue_every` images."""
        try:
            return await self._batch(decode(raw, ImageBatchJob))
        except JOB_FAILURES as e:  # a listing that failed for good, or bad input
            await self.fail(e)

    async def _batch(self, job: ImageBatchJob) -> ImageBatchResult:
        batch_id = job.batch_id or workflow.info().workflow_id
        self.state = job.resume or BatchState()
        self._report()
        slots = asyncio.Semaphore(job.parallel)
        in_flight: list[asyncio.Task[None]] = []
        first = self.state.cursor
        cursor: int | None = first
        while cursor is not None:
            if cursor - first >= job.continue_every:
                await asyncio.gather(*in_flight)
                self.state.cursor = cursor
                workflow.continue_as_new(job.model_copy(update={"resume": self.state, "batch_id": batch_id}))
            limit = min(PAGE, first + job.continue_every - cursor)
            page = await self._list(ListImagesInput(source=job.source, cursor=cursor, limit=limit))
            self.state.total = page.total
            for name in page.names:
                await slots.acquire()
                in_flight.append(asyncio.create_task(self._make(job, batch_id, name, slots)))
                for task in [t for t in in_flight if t.done()]:
                    task.result()  # anything but an image's own failure (listed) fails the batch now
                in_flight = [t for t in in_flight if not t.done()]
            cursor = page.next_cursor
        await asyncio.gather(*in_flight)
        self.state.cursor = self.state.total or 0
        self._report("done")
        return ImageBatchResult(
            batch_id=batch_id, made=self.state.made, failed=self.state.failed, failures=self.state.failures
        )

    async def _list(self, request: ListImagesInput) -> ImagePage:
        return await workflow.execute_activity_method(
            ImageListing.list_images, request, **POLICIES["image-list"].activity_options()
        )

    async def _make(self, job: ImageBatchJob, batch_id: str, name: str, slots: asyncio.Semaphore) -> None:
        source = ImageSource(file=name) if job.source.directory is not None else ImageSource(stored=name)
        step = MakeImageInput(folder=folder_of(batch_id, name), job=ImageJob(source=source, outputs=job.outputs))
        try:
            await workflow.execute_activity_method(
                ImageActivities.make_image, step, **POLICIES["image"].activity_options()
            )
            self.state.made += 1
        except ActivityError as e:  # this image failed for good (rejected, or out of retries): listed, not fatal
            failure: ApplicationError = job_failure(e)
            self.state.add_failure(ImageFailure(image=name, reason=f"{failure.type}: {failure.message}"))
        finally:
            slots.release()
        self._report()

    def _report(self, stage: str = "resizing") -> None:
        """Show the images handled (made or failed) of the total, once it is known."""
        state = self.state
        self.progress = Progress(
            stage=stage,
            percent=100 if stage == "done" else 0,
            done=state.made + state.failed,
            failed=state.failed,
            total=state.total,
            unit="images",
        )
