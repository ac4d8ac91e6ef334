"""Fuzzing the edges: whatever a producer sends, the job models and the CLI either accept it or refuse it with a
typed error (`InvalidJobError`, exit code 2), never another exception, and refused input starts no workflow.

Every example is also enqueued for real on task queues nobody serves, and the workflows there are counted: the
count must equal the examples accepted. (The HTTP API is fuzzed with schemathesis on its own branch.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis.strategies import SearchStrategy
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contracts.kinds import KINDS
from conveyor import InvalidJobError, Jobs, Settings
from conveyor.cli.app import app
from conveyor.client import BulkJob, JobHandle, validate
from conveyor.operations import bounded
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.processes import settings_env
from tests.reliability.strategies import COMMANDS, JOBS
from tests.waiting import eventually, started_on
from worker.build import served_queues


def fuzz(size: Size) -> examples:
    return examples(
        max_examples=size.fuzz_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


async def workflows_on(client: Client, settings: Settings) -> set[str]:
    """Ids of the jobs on the test's task queues (nobody serves them: they stay as started)."""
    return await started_on(client, served_queues(settings))


async def terminate(client: Client, ids: set[str]) -> None:
    """End the accepted examples' workflows, so later tests' stats see none of them."""
    await bounded(ids, lambda i: client.get_workflow_handle(i).terminate("fuzz example"), concurrency=20)


def refused_typed_or_accepted(kind: str, strategy: SearchStrategy[Any], size: Size) -> list[Any]:
    """Validate every example of `strategy` as a `kind` job: `InvalidJobError` is the one refusal allowed, anything
    else fails the test with the example. Returns the examples tried."""
    tried: list[Any] = []

    @fuzz(size)
    @given(strategy)
    def validates_or_refuses(job: Any) -> None:
        tried.append(job)
        with contextlib.suppress(InvalidJobError):
            validate(KINDS[kind], job)

    validates_or_refuses()
    return tried


async def test_job_models_accept_or_refuse_typed_and_refused_input_starts_nothing(
    temporal_env: WorkflowEnvironment, settings: Settings, size: Size
) -> None:
    tried = {kind: refused_typed_or_accepted(kind, strategy, size) for kind, strategy in JOBS.items()}
    jobs = Jobs(temporal_env.client, settings)
    outcomes: Counter[str] = Counter()
    accepted: set[str] = set()
    for kind, items in tried.items():
        for result in await jobs.bulk([BulkJob(kind, job) for job in items], concurrency=20):
            outcomes[f"{kind} accepted" if isinstance(result, JobHandle) else f"{kind} refused"] += 1
            if isinstance(result, JobHandle):
                accepted.add(result.id)
    started = await eventually(lambda: workflows_on(temporal_env.client, settings), lambda ids: ids >= accepted)
    await terminate(temporal_env.client, started)
    figures.record(
        "fuzz: job models", examples=sum(outcomes.values()), **{k.replace(" ", "_"): n for k, n in outcomes.items()},
        crashes=0, started_by_refused=len(started - accepted),
    )  # fmt: skip
    assert started == accepted
    assert all(outcomes[f"{kind} accepted"] and outcomes[f"{kind} refused"] for kind in JOBS), outcomes


async def test_cli_exits_0_or_2_and_refused_input_starts_nothing(
    temporal_env: WorkflowEnvironment, settings: Settings, size: Size
) -> None:
    runner, env = CliRunner(), settings_env(settings)
    codes: Counter[int] = Counter()
    printed: set[str] = set()  # job ids of accepted commands (one id for commands repeating a `--key`)

    @fuzz(size)
    @given(COMMANDS)
    def exits_0_or_2(args: list[str]) -> None:
        ran = runner.invoke(app, args, env=env)
        codes[ran.exit_code] += 1
        if ran.exit_code == 0:
            printed.add(ran.stdout.strip())
        assert ran.exit_code in (0, 2), f"{args!r} -> {ran.exit_code}: {ran.output}{ran.exception!r}"

    await asyncio.to_thread(exits_0_or_2)  # each command runs its own event loop: not on this one
    started = await eventually(lambda: workflows_on(temporal_env.client, settings), lambda ids: ids >= printed)
    await terminate(temporal_env.client, started)
    figures.record(
        "fuzz: CLI (send)", examples=sum(codes.values()), exit_0=codes[0], exit_2=codes[2],
        crashes=sum(n for c, n in codes.items() if c not in (0, 2)), started_by_refused=len(started - printed),
    )  # fmt: skip
    assert started == printed and codes[0] > 0 and codes[2] > 0
