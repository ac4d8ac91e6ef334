"""`Broadcast`: one message to every recipient of a source, at SMTP speed, exactly once per recipient.

The workflow pages through the source (`list_recipients`) and keeps at most `parallel_batches` `send_batch`
activities in flight: more would let over 100 events buffer while a workflow task runs, which makes the server
force-close the task and halves throughput. After `continue_every` recipients it continues as new, carrying its
progress, so its history stays bounded however long the list.

An SMS broadcast runs on the SMS task queue and sends one batch at a time: its speed is the provider's rate, which
one worker's pacer holds, whereas batches in parallel on several workers would each send at that rate.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.broadcast import BroadcastActivities
    from activities.broadcast_sms import SmsBroadcastActivities
    from contracts.broadcast import (
        BroadcastJob,
        BroadcastResult,
        BroadcastState,
        ListRecipientsInput,
        RecipientPage,
        SendBatchInput,
    )
    from contracts.inputs import any_inputs, decode
    from contracts.progress import Progress
    from workflows.job import JOB_FAILURES, JobWorkflow
    from workflows.policies import POLICIES

__all__ = ["Broadcast"]


@workflow.defn(name="Broadcast")
class Broadcast(JobWorkflow):
    """Send a message to every recipient of a source. Input: a `BroadcastJob`. Result: a `BroadcastResult`."""

    def __init__(self) -> None:
        super().__init__()
        self.state = BroadcastState()

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> BroadcastResult:
        """Page, send in bounded parallel batches, continue as new every `continue_every` recipients."""
        try:
            return await self._broadcast(decode(raw, BroadcastJob))
        except JOB_FAILURES as e:  # a batch or page that failed for good (retries exhausted), or bad input
            await self.fail(e)

    async def _broadcast(self, job: BroadcastJob) -> BroadcastResult:
        broadcast_id = job.broadcast_id or workflow.info().workflow_id
        self.state = job.resume or BroadcastState()
        self._report()
        slots = asyncio.Semaphore(job.parallel_batches if job.message.channel == "email" else 1)
        in_flight: list[asyncio.Task[None]] = []
        first = self.state.cursor
        cursor: int | None = first
        while cursor is not None:
            if cursor - first >= job.continue_every:
                await asyncio.gather(*in_flight)
                self.state.cursor = cursor
                workflow.continue_as_new(job.model_copy(update={"resume": self.state, "broadcast_id": broadcast_id}))
            limit = min(job.batch_size * job.parallel_batches, first + job.continue_every - cursor)
            page = await self._list(
                ListRecipientsInput(
                    source=job.source,
                    cursor=cursor,
                    limit=limit,
                    channel=job.message.channel,
                    count=self.state.total is None,  # once per broadcast: the total rides along in the state
                )
            )
            if page.total is not None:
                self.state.total = page.total
            self.state.add_failures(page.invalid)
            for start in range(0, len(page.recipients), job.batch_size):
                await slots.acquire()
                batch = SendBatchInput(
                    broadcast_id=broadcast_id,
                    message=job.message,
                    recipients=page.recipients[start : start + job.batch_size],
                )
                in_flight.append(asyncio.create_task(self._send(batch, slots)))
                for task in [t for t in in_flight if t.done()]:
                    task.result()  # a batch that failed for good fails the broadcast now, not at the end
                in_flight = [t for t in in_flight if not t.done()]
            cursor = page.next_cursor
        await asyncio.gather(*in_flight)
        self.state.cursor = self.state.total or 0
        self._report("done")
        return BroadcastResult(
            broadcast_id=broadcast_id, sent=self.state.sent, failed=self.state.failed, failures=self.state.failures
        )

    async def _list(self, request: ListRecipientsInput) -> RecipientPage:
        return await workflow.execute_activity_method(
            BroadcastActivities.list_recipients, request, **POLICIES["broadcast-list"].activity_options()
        )

    async def _send(self, batch: SendBatchInput, slots: asyncio.Semaphore) -> None:
        try:
            if batch.message.channel == "sms":
                done = await workflow.execute_activity_method(
                    SmsBroadcastActivities.send_sms_batch, batch, **POLICIES["broadcast-sms"].activity_options()
                )
            else:
                done = await workflow.execute_activity_method(
                    BroadcastActivities.send_batch, batch, **POLICIES["broadcast-send"].activity_options()
                )
        finally:
            slots.release()
        self.state.sent += len(done.sent)
        self.state.add_failures(done.failures)
        self._report()

    def _report(self, stage: str = "sending") -> None:
        """Show the recipients handled (sent or failed) of the source's total, once it is known."""
        state = self.state
        self.progress = Progress(
            stage=stage,
            percent=100 if stage == "done" else 0,  # used only while the total is unknown
            done=state.sent + state.failed,
            failed=state.failed,
            total=state.total,
            unit="recipients",
        )
