"""Making the cluster's schedules match the declared ones (`worker.schedules`); reading them back (and pausing,
resuming, triggering) is `conveyor.schedules`'.

`apply` is idempotent: a schedule that matches its declaration is left alone (running it twice changes nothing),
one that differs is updated in place (its history of runs stays), a missing one is created. Schedules Conveyor
created carry a memo marking them; those no longer declared are deleted. Anyone else's are never touched.

Temporal turns cron strings into calendar specs, so each cron is sent with itself as its comment
(`0 2 * * * #0 2 * * *`): the described schedule then shows the cron as declared, and comparing is exact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import Priority, TypedSearchAttributes

from conveyor import search_attributes
from conveyor.errors import ConveyorError
from conveyor.schedules import MEMO_KEY, MEMO_VALUE, describe, is_conveyors
from conveyor.settings import Settings
from conveyor.tenants import tenant_in, with_tenant
from worker.schedules import DeclaredSchedule, declared

log = logging.getLogger("conveyor.schedules")


@dataclass
class Applied:
    """What `apply` did, by schedule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shape:
    """The parts of a schedule that `apply` manages, in a form that compares equal when nothing changed."""

    cron: tuple[str, ...]
    every: tuple[timedelta, ...]
    time_zone: str
    jitter: timedelta | None
    overlap: ScheduleOverlapPolicy
    catchup_window: timedelta | None
    pause_on_failure: bool
    workflow: str
    task_queue: str
    workflow_id: str
    input: str
    tenant: str | None


def schedule_for(row: DeclaredSchedule) -> Schedule:
    """The Temporal schedule a declaration stands for."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            row.workflow,
            dict(row.input),
            id=row.workflow_id,
            task_queue=row.task_queue,
            priority=with_tenant(Priority.default, row.tenant),
            typed_search_attributes=search_attributes.for_job(None, [], row.tenant)
            if row.tenant
            else TypedSearchAttributes.empty,
        ),
        spec=ScheduleSpec(
            cron_expressions=[f"{cron} #{cron}" for cron in row.cron],
            intervals=[ScheduleIntervalSpec(every=row.every)] if row.every else [],
            time_zone_name=row.time_zone,
            jitter=row.jitter,
        ),
        policy=SchedulePolicy(
            overlap=row.overlap, catchup_window=row.catchup_window, pause_on_failure=row.pause_on_failure
        ),
        state=ScheduleState(paused=row.paused, note=row.note),
    )


def declared_shape(row: DeclaredSchedule) -> Shape:
    """The shape of a declaration."""
    return Shape(
        cron=row.cron,
        every=(row.every,) if row.every else (),
        time_zone=row.time_zone,
        jitter=row.jitter,
        overlap=row.overlap,
        catchup_window=row.catchup_window,
        pause_on_failure=row.pause_on_failure,
        workflow=row.workflow,
        task_queue=row.task_queue,
        workflow_id=row.workflow_id,
        input=json.dumps(dict(row.input), sort_keys=True),
        tenant=row.tenant,
    )


def described_shape(client: Client, desc: ScheduleDescription) -> Shape | None:
    """The shape of a schedule on the cluster; None if it does not start a workflow."""
    action, spec, policy = desc.schedule.action, desc.schedule.spec, desc.schedule.policy
    if not isinstance(action, ScheduleActionStartWorkflow):
        return None
    args = client.data_converter.payload_converter.from_payloads(list(action.args)) if action.args else [None]
    return Shape(
        cron=tuple(c.comment or "?" for c in spec.calendars) + tuple(spec.cron_expressions),
        every=tuple(i.every for i in spec.intervals),
        time_zone=spec.time_zone_name or "UTC",
        jitter=spec.jitter,
        overlap=policy.overlap,
        catchup_window=policy.catchup_window,
        pause_on_failure=policy.pause_on_failure,
        workflow=action.workflow,
        task_queue=action.task_queue,
        workflow_id=action.id,
        input=json.dumps(args[0], sort_keys=True),
        tenant=tenant_in(action.priority),
    )


async def apply(client: Client, declared: Sequence[DeclaredSchedule], scope: str = "") -> Applied:
    """Create, update or delete schedules so that Conveyor's whose id starts with `scope` are exactly `declared`.

    `scope` keeps separate declarations apart in one namespace (each test uses its own); the default covers all
    of Conveyor's. A declared id held by a schedule Conveyor did not create is an error: it is not ours to change.
    """
    done = Applied()
    for row in declared:
        if not row.id.startswith(scope):
            raise ConveyorError(f"schedule {row.id!r} is outside the scope {scope!r} being applied")
        desired = schedule_for(row)
        existing = await describe(client, row.id)
        if existing is None:
            try:
                await client.create_schedule(row.id, desired, memo={MEMO_KEY: MEMO_VALUE})
                done.created.append(row.id)
                continue
            except ScheduleAlreadyRunningError:  # created meanwhile by another apply
                existing = await describe(client, row.id)
                assert existing is not None
        if not await is_conveyors(existing):
            raise ConveyorError(f"schedule {row.id!r} exists but was not created by Conveyor; rename yours or ours")
        if described_shape(client, existing) == declared_shape(row):
            done.unchanged.append(row.id)
            continue

        def keep_state(current: ScheduleUpdateInput, desired: Schedule = desired) -> ScheduleUpdate:
            # Paused or not (and the note saying why) is the operators' call once the schedule exists.
            return ScheduleUpdate(schedule=replace(desired, state=current.description.schedule.state))

        await client.get_schedule_handle(row.id).update(keep_state)
        done.updated.append(row.id)
    wanted = {row.id for row in declared}
    async for entry in await client.list_schedules():
        if entry.id.startswith(scope) and entry.id not in wanted and await is_conveyors(entry):
            await client.get_schedule_handle(entry.id).delete()
            done.deleted.append(entry.id)
    return done


async def apply_declared(client: Client, settings: Settings) -> Applied:
    """Apply Conveyor's declared schedules (at `conveyor dev` and `conveyor worker --apply-schedules` start)."""
    done = await apply(client, declared(settings))
    log.info(
        "schedules: %d created, %d updated, %d unchanged, %d deleted",
        len(done.created), len(done.updated), len(done.unchanged), len(done.deleted),
    )  # fmt: skip
    return done
