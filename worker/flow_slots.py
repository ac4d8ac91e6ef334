"""Flow control per key on the job's side: a job of a kind that declares `concurrency=PerKey(...)` waits for a slot
at its key's gate (`workflows.flow_gate`) before its body runs, and gives the slot back when it ends.

An interceptor, so every workflow-shaped job is limited the same way without a line in its workflow: Conveyor's
own, a team's `@job.workflow`, and an activity-shaped kind, which runs in its workflow shape when it is limited
(`OneStepJob`: a standalone activity has nowhere to wait). Any producer is limited, the CLI and `temporal workflow
start` included, because the job enters its gate itself, in its first workflow task (a local activity,
`activities.flow_gate`); a reset or re-run enters again.

While it waits, the job's memo names its key and gate (`contracts.flow.WAITING_MEMO`), so `list` and `stats` show
it `queued` from its description alone, and `status` asks the gate how many wait before it.

Cost per job, on top of the job's own: one local activity (one signal-with-start RPC from the worker), one grant
signal (a gate workflow task and a job workflow task) and one leave signal (a gate workflow task).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

with workflow.unsafe.imports_passed_through():
    from activities.flow_gate import FlowGates, Joined
    from contracts.flow import GATE_MEMO, GRANTED_SIGNAL, LEAVE_SIGNAL, WAITING_MEMO
    from contracts.kinds import kind_of

ENTER_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}
"""Entering a gate is one RPC: retried until the server answers (the job cannot run before it is in line)."""


def first_input(args: Sequence[Any]) -> Any:
    """The job's input as the workflow received it: a dynamic workflow (`OneStepJob`) gets its raw arguments."""
    first = args[0] if args else None
    if isinstance(first, Sequence) and not isinstance(first, str | bytes) and first:
        first = first[0]
    return first


class FlowSlots(Interceptor):
    """The worker interceptor holding limited jobs to their key's slots."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        """Wait for a slot before a limited job runs; give it back after."""
        return _Slot


class _Slot(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        kind = kind_of(info.workflow_type)
        if kind is None or kind.concurrency is None:
            return await self.next.execute_workflow(input)
        if info.continued_run_id is not None:  # a job continuing as new keeps the slot its first run had
            return await self._holding(input, workflow.memo_value(GATE_MEMO, None, type_hint=str))
        granted = False

        def grant() -> None:
            nonlocal granted
            granted = True

        workflow.set_signal_handler(GRANTED_SIGNAL, grant)
        joined: Joined | None = await workflow.execute_local_activity_method(
            FlowGates.enter,
            args=[info.workflow_type, info.workflow_id, first_input(input.args)],
            **ENTER_OPTIONS,
        )
        if joined is None:
            return await self.next.execute_workflow(input)
        workflow.upsert_memo({GATE_MEMO: joined.gate, WAITING_MEMO: None if granted else joined.key})
        try:
            if not granted:
                await workflow.wait_condition(lambda: granted)
                workflow.upsert_memo({WAITING_MEMO: None})
        except BaseException:
            await _leave(joined.gate)  # cancelled while in line: out of it
            raise
        return await self._holding(input, joined.gate)

    async def _holding(self, input: ExecuteWorkflowInput, gate: str | None) -> Any:
        try:
            return await self.next.execute_workflow(input)
        except workflow.ContinueAsNewError:
            gate = None  # the next run holds the slot on
            raise
        finally:
            if gate is not None:
                await _leave(gate)


async def _leave(gate: str) -> None:
    try:
        await workflow.get_external_workflow_handle(gate).signal(LEAVE_SIGNAL, workflow.info().workflow_id)
    except FailureError:
        workflow.logger.warning("flow gate %s was gone when job %s left it", gate, workflow.info().workflow_id)
