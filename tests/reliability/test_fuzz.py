"""Fuzzing the edges: whatever a producer sends, the job models and the CLI either accept it or refuse it with a
typed error (`InvalidJobError`, exit code 2), never another exception, and refused input starts no workflow.

Every example is also enqueued for real on task queues nobody serves, and the workflows there are read once a
sentinel enqueued after them shows: they must be exactly the examples accepted. (The HTTP API is fuzzed with
schemathesis in tests/test_api_schema.py.) Examples are drawn as tests/properties.py says: seeded (derandomized)
unless `--random`; the figures say which.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import settings as examples
from hypothesis.strategies import SearchStrategy
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contracts.kinds import KINDS
from conveyor import InvalidJobError, Jobs, Settings
from conveyor.cli.app import app
from conveyor.client import BulkJob, JobHandle, job_delay, job_priority, validate
from tests import properties
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.processes import settings_env
from tests.reliability.strategies import COMMANDS, DELAYS, JOBS, PRIORITIES
from tests.started import started_besides, terminate


def fuzz(size: Size) -> examples:
    # The rest (derandomized or not, no database, deadline) comes from the profile tests/properties.py loads.
    return examples(max_examples=properties.examples(size.fuzz_examples))


def refused_typed_or_accepted(
    kind: str, strategy: SearchStrategy[Any], size: Size, crashes: Counter[str]
) -> list[BulkJob]:
    """Validate every example of `strategy` as a `kind` job, with a drawn `delay` and `priority` checked as the
    client checks them: `InvalidJobError` is the one refusal allowed, anything else is counted in `crashes` and
    fails the test with the example. Returns the examples tried, as `BulkJob`s."""
    tried: list[BulkJob] = []

    @fuzz(size)
    @given(strategy, DELAYS, PRIORITIES)
    def validates_or_refuses(job: Any, delay: Any, priority: Any) -> None:
        tried.append(BulkJob(kind, job, delay=delay, priority=priority))
        try:
            validate(KINDS[kind], job)
            job_delay(delay)
            job_priority(priority)
        except InvalidJobError:
            pass
        except Exception:
            crashes[kind] += 1
            raise

    validates_or_refuses()
    return tried


async def test_job_models_accept_or_refuse_typed_and_refused_input_starts_nothing(
    temporal_env: WorkflowEnvironment, settings: Settings, size: Size
) -> None:
    crashes: Counter[str] = Counter()
    tried = {kind: refused_typed_or_accepted(kind, strategy, size, crashes) for kind, strategy in JOBS.items()}
    jobs = Jobs(temporal_env.client, settings)
    outcomes: Counter[str] = Counter()
    accepted: set[str] = set()
    for kind, items in tried.items():
        for result in await jobs.bulk(items, concurrency=20):
            outcomes[f"{kind} accepted" if isinstance(result, JobHandle) else f"{kind} refused"] += 1
            if isinstance(result, JobHandle):
                accepted.add(result.id)
    started = await started_besides(jobs, frozenset(accepted))
    await terminate(jobs, started)
    figures.record(
        "fuzz: job models", examples=sum(outcomes.values()), **{k.replace(" ", "_"): n for k, n in outcomes.items()},
        crashes=sum(crashes.values()), started_by_refused=len(started - accepted), drawn=properties.mode(),
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
    jobs = Jobs(temporal_env.client, settings)
    started = await started_besides(jobs)
    await terminate(jobs, started)
    figures.record(
        "fuzz: CLI (send)", examples=sum(codes.values()), exit_0=codes[0], exit_2=codes[2],
        crashes=sum(n for c, n in codes.items() if c not in (0, 2)), started_by_refused=len(started - printed),
        drawn=properties.mode(),
    )  # fmt: skip
    assert started == printed and codes[0] > 0 and codes[2] > 0
