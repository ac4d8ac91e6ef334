"""Webhook endpoints' disabled state, shared by every worker and producer: `conveyor endpoints list/enable/disable`.

The state is one `WebhookEndpointDisabled` workflow per disabled endpoint (id `webhook_endpoint-<name>`, see
`workflows.webhook_endpoint` for why). Producers ask with one `describe` per endpoint before enqueueing, so a
delivery to a disabled endpoint is refused at the edge with `EndpointDisabledError`; workers ask before each POST,
remembering an "enabled" answer for `fresh_for` (a few seconds), so a job queued before the endpoint was disabled
is not sent either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from contracts.webhook import EndpointOff
from workflows.webhook_endpoint import WebhookEndpointDisabled

RECORD_PREFIX = "webhook_endpoint"
REASON_MEMO = "reason"


def record_id(name: str) -> str:
    """The id of endpoint `name`'s disabled record."""
    return f"{RECORD_PREFIX}-{name}"


class EndpointSwitch:
    """Reads and flips endpoints' disabled state in Temporal."""

    def __init__(self, client: Client, task_queue: str, fresh_for: float = 0.0) -> None:
        self.client = client
        self.task_queue = task_queue
        self.fresh_for = fresh_for
        """Seconds an "enabled" answer is reused (0: ask every time, as producers do)."""
        self._enabled_at: dict[str, float] = {}
        self._asking: dict[str, asyncio.Future[str | None]] = {}

    async def disabled(self, name: str) -> str | None:
        """Why `name` is disabled, or None while it is enabled. Calls made while a describe of `name` is in flight
        share its answer: a burst of 1,000 enqueues to one endpoint costs one describe, not a thousand (which
        timed out on a loaded dev server)."""
        checked = self._enabled_at.get(name)
        if checked is not None and time.monotonic() - checked < self.fresh_for:
            return None
        pending = self._asking.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._ask(name))
            self._asking[name] = pending
            pending.add_done_callback(lambda _: self._asking.pop(name, None))
        return await asyncio.shield(pending)

    async def _ask(self, name: str) -> str | None:
        try:
            desc = await self.client.get_workflow_handle(record_id(name)).describe()
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            desc = None
        if desc is not None and desc.status == WorkflowExecutionStatus.RUNNING:
            self._enabled_at.pop(name, None)
            reason = await desc.memo_value(REASON_MEMO, "disabled")
            return str(reason)
        self._enabled_at[name] = time.monotonic()
        return None

    async def states(self, names: Iterable[str]) -> dict[str, str | None]:
        """`disabled` of each of `names`, asked concurrently."""
        ordered = list(names)
        return dict(zip(ordered, await asyncio.gather(*(self.disabled(n) for n in ordered)), strict=True))

    async def disable(self, name: str, reason: str) -> None:
        """Disable `name` for every worker and producer until `enable` (disabling it again changes nothing)."""
        self._enabled_at.pop(name, None)
        await self.client.start_workflow(
            WebhookEndpointDisabled.run,
            EndpointOff(endpoint=name, reason=reason),
            id=record_id(name),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            memo={REASON_MEMO: reason},
        )

    async def enable(self, name: str) -> bool:
        """Enable `name` again; False if it was not disabled."""
        self._enabled_at.pop(name, None)
        try:
            await self.client.get_workflow_handle(record_id(name)).terminate(reason="enabled by an operator")
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False
            raise
        return True
