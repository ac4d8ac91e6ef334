"""The producer's side of debounce and throttle per key: enqueueing a job of such a kind offers its input to its
key's gate (`workflows.flow_gate`) with one signal-with-start, instead of starting the job. The gate starts the job
when its timer says so, with the latest input offered.

So 1,000 enqueues for one key in a burst cost 1,000 signals to one small workflow and start one job. The enqueue
hands back the gate (`flow-<kind>.debounce-<key>`): its result lists the jobs it started. Concurrency limits need
nothing here: a limited job enters its gate itself (`worker.flow_slots`).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from contracts.flow import OFFER_SIGNAL, GateState, Offer, gate_id, key_of
from contracts.kinds import JobKind
from conveyor.errors import InvalidJobError

GATE_WORKFLOW = "FlowGate"


async def offered(
    client: Client, task_queue: str, queues: dict[str, str], spec: JobKind, model: BaseModel, key: str | None,
    delay: timedelta | None,
) -> WorkflowHandle[object, GateState] | None:  # fmt: skip
    """Offer `model` to its key's gate if `spec` is debounced or throttled (and the job has a key): the gate's
    handle; None for any other job, which the caller starts as usual. The gate runs on `task_queue`."""
    timing = spec.debounce or spec.throttle
    if timing is None:
        return None
    flow_key = key_of(timing.key, model)
    if flow_key is None:
        return None
    if key is not None or delay is not None:
        raise InvalidJobError(f"a {spec.name} job is {timing.timing.value}d per key: it takes no key and no delay")
    gate = gate_id(spec.name, flow_key, timing.timing)
    queue = spec.task_queue(queues, model)
    offer = Offer(job=model.model_dump(mode="json"), workflow_type=spec.workflow_type, task_queue=queue)
    return await client.start_workflow(
        GATE_WORKFLOW,
        GateState(kind=spec.name, key=flow_key, timing=timing.timing, window=timing.window),
        id=gate,
        task_queue=task_queue,
        start_signal=OFFER_SIGNAL,
        start_signal_args=[offer],
        result_type=GateState,
    )
