"""`FlowGate`: flow control of one key of one kind: the slots of a concurrency limit (`contracts.flow.PerKey`) and
the jobs waiting for them in order; or the timer of a debounce or throttle (`Debounce`, `Throttle`).

Debounce and throttle: a producer offers each input (`flow-offer`, signal-with-start) instead of starting a job;
the gate keeps the latest and starts the job itself, as a child workflow it abandons (the job outlives the gate),
in the job's workflow shape, when its timer says so: after `window` without a new offer (debounce); or at once and
then at most once per `window`, with the latest offer of the window (throttle). It ends when nothing is pending.

Slots:

One small workflow per key (`flow-<kind>-<key>`), started by the first job of that key with signal-with-start and
ended after a quiet minute with no job holding or waiting. A job enters (`flow-enter`); the gate grants it a slot by
signalling it (`flow-granted`) once fewer than `limit` jobs hold one, first come first served; the job leaves
(`flow-leave`) when it ends, however it ends (`worker.flow_slots`). All of it is Temporal state, so neither a
worker nor a server restart loses a slot or a place in line. A worker that dies while its job holds a slot does
not leak it: the job's step is retried on another worker after its heartbeat time-out, still holding the slot,
and leaves when it ends.

Bounded: after `CONTINUE_AFTER` history events the gate continues as new with its holders and line.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from contracts.flow import (
        AHEAD_QUERY,
        ENTER_SIGNAL,
        GRANTED_SIGNAL,
        LEAVE_SIGNAL,
        OFFER_SIGNAL,
        STARTED_KEPT,
        Entry,
        GateState,
        Offer,
        Timing,
    )
    from contracts.inputs import any_inputs, decode

CONTINUE_AFTER = 2_000
"""History events after which the gate continues as new (a signal in and a signal out per job: ~4 events each)."""
LINGER = timedelta(minutes=1)
"""How long an idle gate waits for the next job of its key before it ends (the next one starts it again)."""


@workflow.defn(name="FlowGate")
class FlowGate:
    """The slots of one key: who holds them, who waits for them, in arrival order."""

    @workflow.init
    @any_inputs
    def __init__(self, *raw: Any) -> None:
        # Its input decoded before the run, for the signals that come with its start; bad input (a malformed
        # `temporal workflow start`) fails the gate in `run`, typed, instead of failing its every workflow task.
        self.invalid: ApplicationError | None = None
        try:
            self.state = decode(raw, GateState)
        except ApplicationError as e:
            self.state, self.invalid = GateState(kind="", key=""), e
        self.regrant: list[str] = []  # holders that entered again (a reset or re-run of a job holding a slot)
        self.changed = False

    @workflow.run
    @any_inputs
    async def run(self, *raw: Any) -> GateState:
        """Grant slots until no job holds or waits for one for `LINGER`; or start jobs on its timer until none is
        pending. Its last state is its result (for a timer, the jobs it started)."""
        if self.invalid is not None:
            raise self.invalid
        if self.state.timing is Timing.DEBOUNCE:
            return await self._debounce()
        if self.state.timing is Timing.THROTTLE:
            return await self._throttle()
        while True:
            await self._grant()
            if workflow.info().get_current_history_length() > CONTINUE_AFTER:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.state)
            self.changed = False
            idle = not self.state.holders and not self.state.waiting
            try:
                await workflow.wait_condition(lambda: self.changed, timeout=LINGER if idle else None)
            except TimeoutError:
                return self.state  # a quiet minute, nothing holds or waits (a signal arriving now is seen first)

    @workflow.signal(name=ENTER_SIGNAL)
    def enter(self, entry: Entry) -> None:
        """A job arrives: in line (once), or granted again if it holds a slot already."""
        self.state.limit = entry.limit  # the kind's declaration as the latest job's worker knows it
        if entry.job_id in self.state.holders:
            self.regrant.append(entry.job_id)
        elif entry.job_id not in self.state.waiting:
            self.state.waiting.append(entry.job_id)
        self.changed = True

    @workflow.signal(name=OFFER_SIGNAL)
    def offer(self, offer: Offer) -> None:
        """A producer enqueued a debounced or throttled job: its input is the latest."""
        self.state.pending = offer
        self.state.offers += 1
        self.changed = True

    async def _debounce(self) -> GateState:
        while self.state.pending is not None:
            self.changed = False
            try:
                await workflow.wait_condition(lambda: self.changed, timeout=self.state.window)
            except TimeoutError:
                await self._start_job()  # a quiet window: the latest input runs
            else:
                self._continue_if_long()
        return self.state

    async def _throttle(self) -> GateState:
        while self.state.pending is not None:
            await self._start_job()  # the first at once; then the latest offered within the window, at its end
            await workflow.sleep(self.state.window)
            self._continue_if_long()
        return self.state

    def _continue_if_long(self) -> None:
        if workflow.info().get_current_history_length() > CONTINUE_AFTER:
            workflow.continue_as_new(self.state)  # signals are sync handlers here: none is left running

    async def _start_job(self) -> None:
        offer, self.state.pending = self.state.pending, None
        assert offer is not None
        job_id = f"{self.state.kind}-{workflow.uuid4().hex}"
        await workflow.start_child_workflow(
            offer.workflow_type,
            offer.job,
            id=job_id,
            task_queue=offer.task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        self.state.started = [*self.state.started, job_id][-STARTED_KEPT:]

    @workflow.signal(name=LEAVE_SIGNAL)
    def leave(self, job_id: str) -> None:
        """A job ended (or was cancelled while waiting): its slot or place is free."""
        for jobs in (self.state.holders, self.state.waiting):
            if job_id in jobs:
                jobs.remove(job_id)
        self.changed = True

    @workflow.query(name=AHEAD_QUERY)
    def ahead(self, job_id: str) -> int | None:
        """How many jobs wait before `job_id`; None when it holds a slot or is not here."""
        return self.state.waiting.index(job_id) if job_id in self.state.waiting else None

    @workflow.query
    def slots(self) -> GateState:
        """The whole gate: its limit, holders and line (the web UI's Queries tab shows it)."""
        return self.state

    async def _grant(self) -> None:
        """Tell every job that gets a slot now; a job that is gone (closed before its turn) frees it again."""
        while True:
            granted, self.regrant = self.regrant, []
            while self.state.waiting and len(self.state.holders) < self.state.limit:
                job_id = self.state.waiting.pop(0)
                self.state.holders.append(job_id)
                granted.append(job_id)
            if not granted:
                return
            told = await asyncio.gather(*(self._tell(j) for j in granted))
            for job_id, ok in zip(granted, told, strict=True):
                if not ok and job_id in self.state.holders:
                    self.state.holders.remove(job_id)

    async def _tell(self, job_id: str) -> bool:
        try:
            await workflow.get_external_workflow_handle(job_id).signal(GRANTED_SIGNAL)
        except FailureError:
            workflow.logger.info("flow gate %s: job %s ended before its turn", workflow.info().workflow_id, job_id)
            return False
        return True
