"""Exporting job histories as JSON for the replay tests (`conveyor histories export`).

A recorded history replayed against the current workflow code fails if the code would now make different
decisions, so a change that would break jobs already running is caught in CI, before it ships.
"""

from __future__ import annotations

import re
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from contracts.kinds import KINDS
from conveyor.errors import InvalidJobError


def workflow_type(kind: str | None, workflow: str | None) -> str:
    """The workflow type to export: a job kind's (`email` -> `SendEmail`), or one named directly (`Cleanup`)."""
    if workflow:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", workflow):
            raise InvalidJobError(f"workflow type {workflow!r} must be a name such as Cleanup")
        return workflow
    spec = KINDS.get(kind or "")
    if spec is None:
        raise InvalidJobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)} (or give --workflow TYPE)")
    return spec.workflow_type  # an activity kind's workflow shape (its histories, when it ran as one)


async def export(client: Client, workflow: str, last: int, out_dir: Path) -> list[Path]:
    """Write the `last` most recently closed runs of `workflow` as `<out_dir>/<job-id>[-<run>].json`.

    A job that continued as new has several closed runs; each is written (suffixed by its run id's start), since
    each replays on its own.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    query = f"WorkflowType = '{workflow}' AND ExecutionStatus != 'Running'"
    async for execution in client.list_workflows(query, limit=last):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        name = (
            execution.id
            if execution.status is not WorkflowExecutionStatus.CONTINUED_AS_NEW
            else (f"{execution.id}-{execution.run_id[:8]}")
        )
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written
