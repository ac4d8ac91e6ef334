"""Reading and operating Conveyor's schedules: the list `conveyor schedules list` and the jobs page show, and the
jobs page's pause, resume and "run now". Producer side (a Temporal client is all it needs); declaring and applying
them is the worker's (`worker.schedule_apply`), which marks each one it creates with Conveyor's memo. Only
schedules carrying that memo are shown or touched here: anyone else's in the namespace are not Conveyor's to
change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from conveyor.errors import ConveyorError

MEMO_KEY, MEMO_VALUE = "managed-by", "conveyor"
"""The memo entry that marks a schedule as Conveyor's: only those may be deleted by `apply`."""


class ScheduleNotFound(ConveyorError, LookupError):
    """No schedule of Conveyor's has this id."""


@dataclass(frozen=True)
class ScheduleRow:
    """One line of `conveyor schedules list`."""

    id: str
    spec: str
    next_runs: list[datetime]
    last_result: str
    paused: bool
    note: str


async def describe(client: Client, schedule_id: str) -> ScheduleDescription | None:
    """The schedule's description, or None if there is no such schedule."""
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def is_conveyors(desc: ScheduleDescription | Any) -> bool:
    """True if the schedule carries Conveyor's memo (`desc` is a description or a list entry)."""
    return bool(await desc.memo_value(MEMO_KEY, None) == MEMO_VALUE)


async def last_result(client: Client, desc: ScheduleDescription) -> str:
    """`<state> (<workflow id>)` of the schedule's most recent run, or `never ran`."""
    if not desc.info.recent_actions:
        return "never ran"
    action = desc.info.recent_actions[-1].action
    workflow_id = getattr(action, "workflow_id", "")
    run = await client.get_workflow_handle(
        workflow_id, run_id=getattr(action, "first_execution_run_id", None)
    ).describe()
    state = run.status.name.lower().replace("_", "-") if run.status else "unknown"
    return f"{state} ({workflow_id})"


def spec_text(desc: ScheduleDescription) -> str:
    """`0 2 * * * UTC`, `every 1:00:00 UTC`: the schedule's times as declared."""
    spec = desc.schedule.spec
    parts = [c.comment or "calendar" for c in spec.calendars] + [f"every {i.every}" for i in spec.intervals]
    return f"{', '.join(parts)} {spec.time_zone_name or 'UTC'}"


async def rows(client: Client, scope: str = "") -> list[ScheduleRow]:
    """Conveyor's schedules (ids starting with `scope`), sorted by id."""
    found: list[ScheduleRow] = []
    async for entry in await client.list_schedules():
        if not entry.id.startswith(scope) or not await is_conveyors(entry):
            continue
        desc = await describe(client, entry.id)
        if desc is None:
            continue  # deleted since it was listed
        found.append(
            ScheduleRow(
                id=entry.id,
                spec=spec_text(desc),
                next_runs=list(desc.info.next_action_times[:2]),
                last_result=await last_result(client, desc),
                paused=desc.schedule.state.paused,
                note=desc.schedule.state.note or "",
            )
        )
    return sorted(found, key=lambda r: r.id)


async def operate(client: Client, schedule_id: str, action: Literal["pause", "resume", "trigger"]) -> None:
    """Pause, resume or trigger (run now, once, as its overlap policy allows) one of Conveyor's schedules;
    `ScheduleNotFound` for an id that names none. Its note is kept: it says what the schedule is for (a pause
    would otherwise replace it with the SDK's "Paused via Python SDK")."""
    desc = await describe(client, schedule_id)
    if desc is None or not await is_conveyors(desc):
        raise ScheduleNotFound(f"no Conveyor schedule {schedule_id!r}")
    handle, note = client.get_schedule_handle(schedule_id), desc.schedule.state.note or ""
    if action == "pause":
        await handle.pause(note=note)
    elif action == "resume":
        await handle.unpause(note=note)
    else:
        await handle.trigger()
