"""Entering a key's gate: the one side effect of flow control per key, run as a local activity of the job.

The job's key comes from its input through the kind's declaration (`contracts.flow.PerKey`): a field, or a team's
function, which runs here in the worker (never in the workflow sandbox, never through JSON). Then one
signal-with-start puts the job in line at its gate, starting the gate if no job of that key is open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.client import Client

from contracts.flow import ENTER_SIGNAL, Entry, GateState, gate_id
from contracts.kinds import kind_of

GATE_WORKFLOW = "FlowGate"


class Joined(BaseModel):
    """Where a job waits: its key and its gate (None: it has no key, and runs unlimited)."""

    key: str
    gate: str


class FlowGates:
    """Puts jobs in line at their key's gate, through `client`."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    @activity.defn(name="flow_enter")
    async def enter(self, job_type: str, job_id: str, job: Any) -> Joined | None:
        """Put `job_id` (a job of the kind `job_type` runs, with input `job`) in line at its key's gate."""
        kind = kind_of(job_type)
        if kind is None or kind.concurrency is None:
            return None
        try:
            model = kind.request.model_validate(job)
        except ValidationError:
            return None  # the job itself refuses its input (`InvalidJob`): no slot to wait for
        key = kind.concurrency.key_of(model)
        if key is None:
            return None
        gate = gate_id(kind.name, key)
        await self.client.start_workflow(
            GATE_WORKFLOW,
            GateState(kind=kind.name, key=key, limit=kind.concurrency.limit),
            id=gate,
            task_queue=self.task_queue,
            start_signal=ENTER_SIGNAL,
            start_signal_args=[Entry(job_id=job_id, limit=kind.concurrency.limit)],
            rpc_timeout=timedelta(seconds=10),
        )
        return Joined(key=key, gate=gate)
