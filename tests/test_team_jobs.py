"""A team's own jobs (`examples/crm_sync`: one module of `@job` functions outside Conveyor), registered only by
`CONVEYOR_JOBS`: enqueued from Python (sync and async, typed results), the CLI, the HTTP API and `temporal
activity start`; run by a `conveyor worker` process; listed, failed, alerted once, retried and counted like a
built-in kind — against a real CRM stand-in and alert webhook on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts.failure_watch import FailureWatchInput, FailureWatchReport
from contracts.kinds import KINDS, Shape
from contracts.states import JobState
from conveyor import InvalidJobError, JobFailed, Jobs, Settings, job
from tests.api_server import KEY
from tests.cli import BIN, Ran, env_for, run
from tests.conftest import settings_for, start_dev_server
from tests.dev_stack import dev_env, dev_stack
from tests.smtp_server import SmtpServer, free_port
from tests.waiting import eventually
from tests.webhook import Webhook
from worker.build import WORKFLOWS, build_workers, workflow_runner
from worker.run import running
from workflows.one_step import OneStepJob

CRM_PACKAGE = Path(__file__).parent.parent / "examples" / "crm_sync"
TEAM_HISTORIES = sorted((Path(__file__).parent / "histories" / "teams").glob("*.json"))
"""Recorded runs of the example's jobs as workflows: `Onboard`, and `crm_sync` as the one-step workflow. Apart
from Conveyor's own (`tests/test_replay.py`), because they replay only with the example's module imported."""


@pytest.fixture
def crm() -> Iterator[Webhook]:
    """The CRM: records the records posted to it; refuses those in `refused` (422), is down for `unavailable`."""
    server = Webhook()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def crm_jobs(settings: Settings, crm: Webhook, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example's module, imported here as a producer imports it, its handles pointed at the test's server."""
    monkeypatch.syspath_prepend(str(CRM_PACKAGE))
    monkeypatch.setenv("CRM_URL", crm.url.get_secret_value())
    import crm_sync  # type: ignore[import-not-found]  # examples/crm_sync, put on the path above

    crm_sync.crm.cache_clear()
    job.configure(settings)
    yield crm_sync
    job.configure(None)
    # Withdrawn again, so the suite's other tests see only the kinds they expect (the next import re-registers).
    for name in ("crm_sync", "crm_note", "onboard"):
        KINDS.remove(KINDS[name])
    del sys.modules["crm_sync"]


def jobs_env(settings: Settings, crm: Webhook, alerts: Webhook) -> dict[str, str]:
    """A `conveyor` process's environment: the example's module importable and named in `CONVEYOR_JOBS` (nothing
    else registers it), the CRM's address for its settings, alerts to `alerts`."""
    env = env_for(settings)
    return env | {
        "CONVEYOR_JOBS": "crm_sync",
        "PYTHONPATH": os.pathsep.join([str(CRM_PACKAGE), *filter(None, [env.get("PYTHONPATH")])]),
        "CRM_URL": crm.url.get_secret_value(),
        "CONVEYOR_API_KEYS": KEY,
        "CONVEYOR_ALERT_WEBHOOK_URL": alerts.url.get_secret_value(),
    }


@pytest.fixture
async def processes(settings: Settings, crm: Webhook, webhook: Webhook) -> AsyncIterator[tuple[dict[str, str], int]]:
    """`conveyor worker` and `conveyor api` as processes of their own; their environment and the API's port. The
    worker finds the team's jobs through `CONVEYOR_JOBS`, the API through `--jobs` alone."""
    env = jobs_env(settings, crm, webhook)
    port = free_port()
    worker = await asyncio.create_subprocess_exec(str(BIN / "conveyor"), "worker", env=env)
    api_env = {k: v for k, v in env.items() if k != "CONVEYOR_JOBS"} | {"CONVEYOR_API_PORT": str(port)}
    api = await asyncio.create_subprocess_exec(str(BIN / "conveyor"), "api", "--jobs", "crm_sync", env=api_env)
    try:
        yield env, port
    finally:
        for process in (worker, api):
            process.terminate()
            await process.wait()


async def conveyor(env: dict[str, str], *args: str) -> Ran:
    return await run(str(BIN / "conveyor"), *args, env=env)


async def job_json(env: dict[str, str], *args: str) -> Any:
    """`conveyor ARGS --json`, parsed."""
    ran = await conveyor(env, *args, "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


async def watch_failures(client: Client, settings: Settings) -> FailureWatchReport:
    """One run of the failure watcher (as its schedule starts it every minute) over the test's task queue."""
    return await client.execute_workflow(
        "FailureWatcher",
        FailureWatchInput(lookback_seconds=300, task_queues=[settings.task_queue]),
        id=f"failure-watch-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=FailureWatchReport,
    )


async def test_a_teams_own_jobs_run_fail_by_their_policy_and_are_alerted_once(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    crm: Webhook,
    webhook: Webhook,
    crm_jobs: ModuleType,
    processes: tuple[dict[str, str], int],
) -> None:
    env, port = processes
    crm_sync, crm_note, Customer = crm_jobs.crm_sync, crm_jobs.crm_note, crm_jobs.Customer
    refused, down = f"cust-{uuid.uuid4().hex[:8]}", f"down-{uuid.uuid4().hex[:8]}"
    crm.refused.add(refused)
    crm.unavailable.add(down)

    # A plain function, from code without an event loop; the same key twice is one job.
    key = f"c1-{uuid.uuid4().hex[:6]}"
    synced = await asyncio.to_thread(crm_sync.enqueue, Customer(customer_id="c1", email="a@example.com"), key=key)
    again = await asyncio.to_thread(crm_sync.enqueue, {"customer_id": "c1", "email": "a@example.com"}, key=key)
    assert synced.id == again.id == f"crm_sync-{key}"
    result = await asyncio.to_thread(synced.result, 60)
    assert isinstance(result, crm_jobs.Synced) and (result.customer_id, result.status) == ("c1", 200)

    # A coroutine function with JSON-typed parameters and an `int` result, from async code.
    noted = await crm_note.aenqueue("c1", note="called back")
    assert await noted.result() == 200
    assert (await crm_note.aget_result(noted.id)).id == noted.id

    # The team's workflow, hosted by the `conveyor worker` process through `CONVEYOR_JOBS` alone; by the CLI.
    onboarding = json.dumps({"customer": {"customer_id": "c8", "email": "h@example.com"}, "note_after": 0})
    started = await conveyor(env, "enqueue", "onboard", onboarding)
    assert started.code == 0, started.err
    waited = await conveyor(env, "wait", started.out.strip())
    assert waited.code == 0 and waited.out.startswith("completed"), (waited.out, waited.err)

    # Retried by its policy (3 attempts), then failed; a never-retried exception fails on attempt 1.
    failing = await crm_note.aenqueue(customer_id="c1", note=down)
    never = await crm_sync.aenqueue(Customer(customer_id=refused, email="b@example.com"))
    with pytest.raises(JobFailed) as unavailable:
        await failing.result()
    assert unavailable.value.type == "CrmUnavailable"
    with pytest.raises(JobFailed) as rejected:
        await never.result()
    assert rejected.value.type == "CrmRejected"
    assert ((await failing.status()).attempts, (await never.status()).attempts) == (3, 1)

    # Bad input: refused before enqueue from Python, the CLI and HTTP; failed at once from a foreign producer.
    with pytest.raises(InvalidJobError, match="email"):
        await crm_sync.aenqueue({"customer_id": "c 1", "email": "x"})
    with pytest.raises(InvalidJobError, match="note"):
        await crm_note.aenqueue(customer_id="c1", note="x" * 501)
    bad_cli = await conveyor(env, "enqueue", "crm_sync", '{"customer_id": "c 1", "email": "x"}')
    assert bad_cli.code == 2 and "customer_id" in bad_cli.err and "email" in bad_cli.err
    foreign = f"crm_sync-foreign-{uuid.uuid4().hex[:6]}"
    started = await run(
        str(BIN / "temporal"),
        *("activity", "start", "--address", settings.temporal_address, "--type", "crm_sync"),
        *("--activity-id", foreign, "--task-queue", settings.task_queue, "--start-to-close-timeout", "10s"),
        *("--input", '{"customer_id": "c 1"}'),
    )
    assert started.code == 0, started.err

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}
    ) as http:

        async def schema() -> httpx.Response | None:
            try:
                return await http.get("/openapi.json")
            except httpx.TransportError:
                return None  # the API process is still starting

        document = (await eventually(schema, lambda r: r is not None, timeout=30)).json()  # type: ignore[union-attr]
        body = document["paths"]["/jobs/crm_sync"]["post"]["requestBody"]["content"]["application/json"]
        assert body["examples"]["example"]["value"]["customer_id"] == "c1"
        assert "/jobs/crm_note" in document["paths"]
        assert (await http.post("/jobs/crm_note", json={"customer_id": "c1"})).status_code == 422
        by_http = await http.post("/jobs/crm_sync", json={"customer_id": "c2", "email": "c@example.com"})
        assert by_http.status_code == 202, by_http.text

    # The rest through `Jobs` in this process (each `conveyor` command costs seconds of start-up): the CLI's own
    # commands are covered elsewhere; one `status` shows the CLI knows the kinds from CONVEYOR_JOBS alone.
    jobs = Jobs(temporal_env.client, settings)
    assert (await jobs.result(by_http.json()["id"])) == crm_jobs.Synced(customer_id="c2", status=200)
    with pytest.raises(JobFailed, match="InvalidJob"):
        await jobs.result(foreign)
    foreign_status = await job_json(env, "status", foreign)
    assert (foreign_status["kind"], foreign_status["failure"]["type"], foreign_status["attempts"]) == (
        "crm_sync",
        "InvalidJob",
        1,
    )

    failed = await eventually(lambda: jobs.failed(kind="crm_note"), bool)
    assert [(r.id, r.failure and r.failure.type) for r in failed] == [(failing.id, "CrmUnavailable")]
    listed = await eventually(lambda: jobs.list(kind="crm_sync"), lambda rows: len(rows) >= 4)
    assert {r.id for r in listed} >= {synced.id, never.id, foreign}

    # Announced once each, whoever comes first: the job's own last attempt, or the watcher (run twice: its
    # windows overlap, as the schedule's do).
    ours = {synced.id, noted.id, failing.id, never.id, foreign}

    async def alerts() -> list[tuple[str, str]]:
        return sorted((p["job_id"], p["failure_type"]) for p in webhook.posts if p["job_id"] in ours)

    expected = sorted([(failing.id, "CrmUnavailable"), (never.id, "CrmRejected"), (foreign, "InvalidJob")])
    assert await eventually(alerts, lambda found: len(found) >= 3) == expected
    watched = [await watch_failures(temporal_env.client, settings) for _ in range(2)]
    assert watched[1].alerted == []
    assert await alerts() == expected

    # The CRM saw each successful job once (the keyed job enqueued twice ran once; c8 is the workflow's sync step).
    assert sorted(p["customer_id"] for p in crm.posts if "email" in p) == ["c1", "c2", "c8"]

    crm.refused.clear()
    await jobs.retry(never.id)
    assert (await jobs.result(never.id)).customer_id == refused  # its new run (the handle holds the first)
    stats = await jobs.stats()
    assert sum(q[JobState.COMPLETED] for q in stats.counts["crm_sync"].values()) == 3  # the retried job counts once


def test_a_job_function_runs_inline_as_plain_python(crm_jobs: ModuleType, crm: Webhook) -> None:
    assert crm_jobs.crm_sync(crm_jobs.Customer(customer_id="c9", email="z@example.com")).status == 200
    assert asyncio.run(crm_jobs.crm_note("c9", "inline")) == 200
    assert [p["customer_id"] for p in crm.posts] == ["c9", "c9"]
    assert crm_jobs.crm_sync.kind.policy.never_retry[:1] == ("InvalidJob",)
    assert "CrmRejected" in crm_jobs.crm_sync.kind.policy.never_retry


async def test_without_standalone_activities_a_job_runs_as_a_one_step_workflow(
    crm_jobs: ModuleType, crm: Webhook, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """A server with standalone activities turned off (as an older or managed one may be): the producer finds
    out by itself, and the same job runs as the one-step workflow every worker registers — same id, policy,
    status and listing."""
    async with await start_dev_server("activity.enableStandalone=false") as env:
        settings = settings_for(env, smtp_server, tmp_path)
        job.configure(settings)
        async with running(build_workers(env.client, settings)):
            key = f"c3-{uuid.uuid4().hex[:6]}"
            synced = await crm_jobs.crm_sync.aenqueue({"customer_id": "c3", "email": "c@example.com"}, key=key)
            assert (synced.id, synced.handle.shape) == (f"crm_sync-{key}", Shape.WORKFLOW)
            assert (await synced.result()).status == 200
            assert await (await crm_jobs.crm_note.aenqueue("c3", "by workflow")).result() == 200

            crm.refused.add("c4")
            refused = await crm_jobs.crm_sync.aenqueue({"customer_id": "c4", "email": "d@example.com"})
            with pytest.raises(JobFailed) as failed:
                await refused.result()
            assert failed.value.type == "CrmRejected"

            jobs = Jobs(env.client, settings)
            done, gone = await jobs.status(synced.id), await jobs.status(refused.id)
            assert (done.kind, done.shape, done.state) == ("crm_sync", Shape.WORKFLOW, JobState.COMPLETED)
            assert done.result == {"customer_id": "c3", "status": 200}
            assert (gone.state, gone.failure and gone.failure.type, gone.attempts) == (
                JobState.FAILED,
                "CrmRejected",
                1,
            )
            listed = await eventually(lambda: jobs.list(kind="crm_sync"), lambda rows: len(rows) >= 2)
            assert {r.id for r in listed} == {synced.id, refused.id}
            counts = (await jobs.stats()).counts["crm_sync"][settings.task_queue]
            assert (counts[JobState.COMPLETED], counts[JobState.FAILED]) == (1, 1)


async def test_a_teams_workflow_runs_its_jobs_as_steps_with_a_durable_timer_between(
    crm_jobs: ModuleType, crm: Webhook, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """`Onboard` (`@job.workflow`): its two `@job` steps under their own policies, a timer between them; enqueued
    by name, shown with its stage while it waits, completed with its typed result; a step that fails for good
    fails the job typed by its cause, on the step's first attempt (its `never_retry`)."""
    async with running(build_workers(temporal_env.client, settings)):
        jobs = Jobs(temporal_env.client, settings)
        key = uuid.uuid4().hex[:8]
        onboarding = {"customer": {"customer_id": "c5", "email": "e@example.com"}, "note_after": 3}
        handle = await jobs.enqueue("onboard", onboarding, key=key)
        assert (handle.id, handle.shape) == (f"onboard-{key}", Shape.WORKFLOW)
        # The timer is long enough for the test to see the job waiting on it, between its two steps.
        waiting = await eventually(lambda: jobs.status(handle.id), lambda s: s.stage != "syncing")
        assert (waiting.stage, waiting.state) == ("waiting", JobState.RUNNING)
        assert waiting.detail is not None and waiting.detail.startswith("until ")
        result = await handle.result()
        assert result == crm_jobs.Onboarded(synced=crm_jobs.Synced(customer_id="c5", status=200), noted=200)
        assert [(p["customer_id"], p.get("note")) for p in crm.posts] == [("c5", None), ("c5", "onboarded")]
        done = await jobs.status(handle.id)
        assert (done.kind, done.shape, done.state) == ("onboard", Shape.WORKFLOW, JobState.COMPLETED)
        assert (done.stage, done.progress) == ("done", 100)
        events = [e.WhichOneof("attributes") for e in (await handle.workflow.fetch_history()).events]
        step, timer = "activity_task_scheduled_event_attributes", "timer_started_event_attributes"
        assert [e for e in events if e in (step, timer)] == [step, timer, step]

        crm.refused.add("c6")
        refused = await jobs.enqueue("onboard", {"customer": {"customer_id": "c6", "email": "f@example.com"}})
        with pytest.raises(JobFailed) as failed:
            await refused.result()
        assert failed.value.type == "CrmRejected"
        gone = await jobs.status(refused.id)
        assert (gone.state, gone.failure and gone.failure.type, gone.attempts) == (JobState.FAILED, "CrmRejected", 1)

        with pytest.raises(InvalidJobError):
            await jobs.enqueue("onboard", {"customer": {"customer_id": "c7", "email": "g@x.com"}, "note_after": -1})


@pytest.mark.parametrize("path", TEAM_HISTORIES, ids=[p.stem for p in TEAM_HISTORIES])
async def test_a_teams_recorded_workflows_replay(crm_jobs: ModuleType, path: Path) -> None:
    """Today's `Onboard` and one-step workflow replay the runs recorded from them (a reordered step or a new timer
    raises `NondeterminismError` here), in the sandbox the worker runs them in."""
    replayer = Replayer(
        workflows=[*WORKFLOWS, OneStepJob, crm_jobs.Onboard],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner([crm_jobs.Onboard]),
    )
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


async def test_conveyor_dev_hosts_the_jobs_named_in_conveyor_jobs(crm: Webhook, tmp_path: Path) -> None:
    """`conveyor dev` run from the project's directory with `CONVEYOR_JOBS` (no PYTHONPATH: the working
    directory is searched): its banner names the team's jobs, and its worker and API serve them."""
    env = dev_env(tmp_path / ".conveyor") | {"CONVEYOR_JOBS": "crm_sync", "CRM_URL": crm.url.get_secret_value()}
    async with dev_stack(env, cwd=CRM_PACKAGE) as banner:
        assert "Team jobs    crm_sync, crm_note" in banner
        producer = env | {"PYTHONPATH": str(CRM_PACKAGE)}
        enqueued = await run(
            str(BIN / "conveyor"), "enqueue", "crm_note", '{"customer_id": "c5", "note": "hi"}', env=producer
        )
        assert enqueued.code == 0, enqueued.err
        done = await run(str(BIN / "conveyor"), "wait", enqueued.out.strip(), "--json", env=producer)
        assert (done.code, json.loads(done.out)) == (0, 200)
    assert crm.posts == [{"customer_id": "c5", "note": "hi"}]
