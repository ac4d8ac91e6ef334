"""Exporting job histories as JSON for the replay tests (`conveyor histories export`).

A recorded history replayed against the current workflow code fails if the code would now make different
decisions, so a change that would break jobs already running is caught in CI, before it ships.
"""

from __future__ import annotations

import re
from pathlib import Path

from temporalio.client import Client

from conveyor.errors import InvalidJobError
from conveyor.kinds import KINDS


async def export(client: Client, kind: str, last: int, out_dir: Path) -> list[Path]:
    """Write the `last` most recently closed jobs of `kind` as `<out_dir>/<job-id>.json`; returns the paths."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidJobError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    query = f"WorkflowType = '{spec.workflow}' AND ExecutionStatus != 'Running'"
    async for execution in client.list_workflows(query, limit=last):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9._-]', '_', execution.id)}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written
