"""The job model holds together: every workflow is a registered kind, the worker hosts every kind, the layers
point down, and the producer's import stays light."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import workflows
from contracts.kinds import KINDS, Shape
from worker.build import WORKFLOWS

ROOT = Path(__file__).parent.parent
HEAVY = (
    "reportlab", "boto3", "botocore", "aiosmtplib", "aiosmtpd", "jinja2", "fastapi", "uvicorn", "pyvips", "activities",
)  # fmt: skip


def defined_workflows() -> dict[str, type]:
    """Every `@workflow.defn` class in `workflows/`, by workflow type."""
    found: dict[str, type] = {}
    for module in pkgutil.iter_modules(workflows.__path__):
        loaded = importlib.import_module(f"workflows.{module.name}")
        for value in vars(loaded).values():
            definition = getattr(value, "__temporal_workflow_definition", None)
            if isinstance(value, type) and definition is not None and definition.name:
                found[definition.name] = value
    return found


def test_every_workflow_is_a_registered_kind() -> None:
    registered = set(KINDS.types())
    unregistered = sorted(set(defined_workflows()) - registered)
    assert not unregistered, f"workflows with no job kind in contracts.kinds: {unregistered}"


def test_the_worker_hosts_every_kind_and_every_workflow() -> None:
    hosted = {w.__temporal_workflow_definition.name for w in WORKFLOWS}  # type: ignore[attr-defined]
    assert hosted == set(defined_workflows()), "worker.build.WORKFLOWS lists every workflow in workflows/"
    for kind in KINDS.values():
        if kind.hosted is None:  # built-in: composed by worker.build
            expected = set(kind.earlier_types) | ({kind.runs_as} if kind.shape is Shape.WORKFLOW else set())
            assert expected <= hosted, f"{kind.name}: its workflows must stay registered while any can exist"


def test_layers_point_down() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]), checked by import-linter."""
    lint = Path(sys.executable).parent / "lint-imports"
    ran = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 0 and "0 broken" in ran.stdout, ran.stdout + ran.stderr


def test_import_conveyor_stays_light() -> None:
    code = "import sys; from conveyor import *; print(__import__('json').dumps(sorted(sys.modules)))"
    ran = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(ran.stdout)}
    assert not loaded & set(HEAVY), f"`import conveyor` loads {sorted(loaded & set(HEAVY))}"
