"""`stats`: jobs per kind, task queue and state, counted by Temporal's visibility store rather than read one by one,
so a dashboard stays fast however many jobs the namespace holds.

What the store counts exactly (`count_workflows` / `count_activities`, a few queries per kind and shape):

- closed jobs per state over the window, and open ones: `... AND (ExecutionStatus = 'Running' OR CloseTime > since)
  GROUP BY ExecutionStatus` (the one field the store groups by), one query;
- among the open ones, the `scheduled` ones: `... AND ExecutionStatus = 'Running' AND ExecutionTime > now`.

What it cannot tell: whether an open job that is due is `queued`, `running` or `retrying` — Temporal indexes none of
that (an execution's visibility row is written at its start and close; a standalone activity's attempts and a
workflow's pending activities are in no searchable field), and no search attribute can carry it: an activity-shaped
job may carry none (the web UI's one-click re-run fails on any) and cannot change one after it started, and a
workflow never hears of its activity's failed attempts. So those jobs are described, one describe each, up to
`open_limit` per kind and queue (newest first); any more are counted in `open_beyond_limit`, open but not told apart.

A retried job counts once: its earlier failed (terminated, timed-out) runs are listed — only those, a dead-letter
view's worth — and the ones a later run superseded are taken off.

One tenant's jobs: workflow-shaped ones are counted by their `Tenant` attribute like the rest; activity-shaped ones
carry no attribute to count by, so they are listed over the window and their tenant read from each one's priority
(`operations.of_tenant`, one describe each) — what a per-tenant view of a busy namespace costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.service import RPCError

from contracts.kinds import DEFAULT_QUEUE, JobKind, Shape
from contracts.states import EXECUTION_STATUS, JobState
from conveyor.connection import WITHOUT_STANDALONE_ACTIVITIES
from conveyor.operations import (
    RETRYABLE,
    JobStats,
    JobSummary,
    bounded,
    of_tenant,
    only_latest,
    quote,
    runs,
    shown_kinds,
    type_clause,
    with_open_state,
)
from conveyor.tenants import tenant_of

STATE_OF_STATUS = {status: state for state, status in EXECUTION_STATUS.items()}
"""The job state of each closed `ExecutionStatus` a count groups by (a run that continued as new is not a job's
end: its job's latest run is counted instead)."""
QUERY_CONCURRENCY = 8
"""Kinds (and queues) counted at once: a few count queries each."""


@dataclass(frozen=True)
class Slice:
    """The jobs of one kind, of one shape, on one task queue: what one row of counts is made of."""

    kind: JobKind
    shape: Shape
    queue: str
    query: str
    """Visibility query selecting the slice's executions (types, and the queue when the kind has several)."""


def slices(kinds: list[JobKind], queues: Mapping[str, str], tenant: str | None = None) -> list[Slice]:
    """A slice per kind, shape and queue its jobs may start on. Visibility cannot group by task queue, so a kind
    whose jobs choose among queues (a broadcast: SMS ones on the SMS queue) is counted once per queue it may
    choose; a kind with one queue is counted without naming it. With `tenant`, workflow-shaped slices select that
    tenant's jobs (activity-shaped ones cannot: see `tenant_counts`)."""
    found: list[Slice] = []
    for kind in kinds:
        for shape in Shape:
            types = type_clause(shape, [kind])
            if types is None:
                continue
            if tenant is not None and shape is Shape.WORKFLOW:
                types = f"{types} AND Tenant = {quote(tenant)}"
            if not callable(kind.queue):
                found.append(Slice(kind, shape, kind.task_queue(queues, None), types))
                continue
            own = kind.hosting_queues(queues, queues[DEFAULT_QUEUE]) + list(queues.values())
            for queue in dict.fromkeys(own):
                found.append(Slice(kind, shape, queue, f"{types} AND TaskQueue = {quote(queue)}"))
    return found


async def count(client: Client, shape: Shape, query: str) -> dict[str, int]:
    """Executions matching `query`, per group (`GROUP BY ExecutionStatus`) or as `{"": n}`. A server without
    standalone activities has none to count."""
    counter = client.count_activities if shape is Shape.ACTIVITY else client.count_workflows
    try:
        answer = await counter(query)
    except RPCError as e:
        if shape is Shape.ACTIVITY and e.status in WITHOUT_STANDALONE_ACTIVITIES:
            return {}
        raise
    if not answer.groups:
        return {"": answer.count}
    return {str(group.group_values[0]): group.count for group in answer.groups}


async def slice_counts(
    client: Client, part: Slice, since: datetime, open_limit: int
) -> tuple[dict[JobState, int], int]:
    """The slice's jobs per state, and how many open ones were past `open_limit` (not told apart)."""
    states = dict.fromkeys(JobState, 0)
    window = f"CloseTime > {quote(_instant(since))}"
    grouped = f"{part.query} AND (ExecutionStatus = 'Running' OR {window}) GROUP BY ExecutionStatus"
    open_now = 0
    for status, n in (await count(client, part.shape, grouped)).items():
        if status in STATE_OF_STATUS:
            states[STATE_OF_STATUS[status]] += n
        elif status == "Running":
            open_now = n
    if any(states[s] for s in RETRYABLE):
        ended = ", ".join(quote(EXECUTION_STATUS[s]) for s in RETRYABLE)
        query = f"{part.query} AND {window} AND ExecutionStatus IN ({ended})"
        rows = [r async for r in runs(client, part.shape, query, None)]
        kept = {r.run_id for r in await only_latest(client, part.shape, rows)}
        for row in rows:
            states[row.state] -= row.run_id not in kept
    if not open_now:
        return states, 0
    running = f"{part.query} AND ExecutionStatus = 'Running'"
    now = quote(_instant(datetime.now(UTC)))

    async def newest_due() -> list[JobSummary]:
        return [r async for r in runs(client, part.shape, f"{running} AND ExecutionTime <= {now}", open_limit)]

    scheduled, due = await asyncio.gather(
        count(client, part.shape, f"{running} AND ExecutionTime > {now}"), newest_due()
    )
    states[JobState.SCHEDULED] = sum(scheduled.values())
    for row in await bounded(due, lambda r: with_open_state(client, r)):
        states[row.state] += 1
    return states, max(open_now - states[JobState.SCHEDULED] - len(due), 0)


async def tenant_counts(
    client: Client, part: Slice, since: datetime, open_limit: int, tenant: str
) -> tuple[dict[JobState, int], int]:
    """An activity-shaped slice's jobs of `tenant` per state: its jobs over the window, each described once for
    its tenant (`of_tenant`), its open ones the newest `open_limit` (any older open ones cannot be told by tenant
    without a describe each, so they are not counted), and 0 past that limit."""
    states = dict.fromkeys(JobState, 0)
    closed = f"{part.query} AND CloseTime > {quote(_instant(since))} AND ExecutionStatus != 'Running'"
    rows = await only_latest(client, part.shape, [r async for r in runs(client, part.shape, closed, None)])
    running = f"{part.query} AND ExecutionStatus = 'Running'"
    open_rows = [r async for r in runs(client, part.shape, running, open_limit)]
    open_rows = await bounded(await of_tenant(client, open_rows, tenant), lambda r: with_open_state(client, r))
    for row in [*await of_tenant(client, rows, tenant), *open_rows]:
        states[row.state] += 1
    return states, 0


async def stats(
    client: Client,
    since: datetime,
    queues: Mapping[str, str],
    open_limit: int = 100,
    include_internal: bool = False,
    tenant: str | None = None,
) -> JobStats:
    """Jobs per kind, task queue and state: open jobs now, closed ones that closed after `since`, each job
    counted once (by its latest run). Housekeeping kinds only with `include_internal`; with `tenant`, that
    tenant's jobs only. Every kind has a row (on its queue, zeros when it has no job); a kind whose jobs choose
    their queue has a row per queue with jobs."""
    tenant_of(tenant)
    kinds = shown_kinds(include_internal)
    window = f"(ExecutionStatus = 'Running' OR CloseTime > {quote(_instant(since))})"

    async def busy(shape: Shape) -> bool:  # most often one shape has no job at all: one query, not one per kind
        types = type_clause(shape, kinds)
        return types is not None and any((await count(client, shape, f"{types} AND {window}")).values())

    shapes = [shape for shape, has in zip(Shape, await asyncio.gather(*map(busy, Shape)), strict=True) if has]
    parts = [p for p in slices(kinds, queues, tenant) if p.shape in shapes]

    async def counted_slice(part: Slice) -> tuple[dict[JobState, int], int]:
        if tenant is not None and part.shape is Shape.ACTIVITY:
            return await tenant_counts(client, part, since, open_limit, tenant)
        return await slice_counts(client, part, since, open_limit)

    counted = await bounded(parts, counted_slice, QUERY_CONCURRENCY)
    counts: dict[str, dict[str, dict[JobState, int]]] = {}
    beyond: dict[str, int] = {}
    for part, (states, past) in zip(parts, counted, strict=True):
        if any(states.values()) or not callable(part.kind.queue):
            row = counts.setdefault(part.kind.name, {}).setdefault(part.queue, dict.fromkeys(JobState, 0))
            for state, n in states.items():
                row[state] += n
        if past:
            beyond[part.kind.name] = beyond.get(part.kind.name, 0) + past
    for kind in kinds:
        counts.setdefault(kind.name, {home_queue(kind, queues): dict.fromkeys(JobState, 0)})
    return JobStats(since=since, counts=counts, open_beyond_limit=beyond)


def queues_of(kinds: list[JobKind], queues: Mapping[str, str]) -> list[str]:
    """Every task queue `stats` may show a row of `kinds` on."""
    return sorted({p.queue for p in slices(kinds, queues)} | {home_queue(k, queues) for k in kinds})


def home_queue(kind: JobKind, queues: Mapping[str, str]) -> str:
    """The task queue a kind's jobs start on, for a kind with no job to show it by (`queues` maps roles to queue
    names). A kind whose queue depends on the job (broadcast: SMS ones on the SMS queue) shows the default queue,
    where its jobs start unless they say otherwise; its jobs, once there are some, show their own."""
    return kind.task_queue(queues, None) if isinstance(kind.queue, str) else queues[DEFAULT_QUEUE]


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
