"""A team's own job kind, in a package outside Conveyor (`examples/crm_sync`), registered by `CONVEYOR_KINDS`:
enqueued by the CLI and the HTTP API, run by `conveyor worker`, listed, failed, alerted, retried and counted like
a built-in kind — each by a real process, against a real CRM stand-in and alert webhook on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from contracts.failure_watch import FailureWatchInput, FailureWatchReport
from conveyor import Settings
from tests.api_server import KEY
from tests.cli import BIN, Ran, env_for, run
from tests.smtp_server import free_port
from tests.waiting import eventually
from tests.webhook import Webhook

CRM_PACKAGE = Path(__file__).parent.parent / "examples" / "crm_sync"


@pytest.fixture
def crm() -> Iterator[Webhook]:
    """The CRM: records the customers synced to it; refuses those in `refused`."""
    server = Webhook()
    server.start()
    yield server
    server.stop()


def plugin_env(settings: Settings, crm: Webhook, alerts: Webhook) -> dict[str, str]:
    """A `conveyor` process's environment, with the example kind on the path and registered, alerting `alerts`.
    The package goes before the test run's own path, which stays: it may name the Conveyor under test."""
    env = env_for(settings)
    return env | {
        "CONVEYOR_KINDS": "crm_sync.contract:KIND",
        "PYTHONPATH": os.pathsep.join([str(CRM_PACKAGE), *filter(None, [env.get("PYTHONPATH")])]),
        "CRM_SYNC_URL": crm.url.get_secret_value(),
        "CONVEYOR_API_KEYS": KEY,
        "CONVEYOR_STANDALONE_ACTIVITIES": "true",
        "CONVEYOR_ALERT_WEBHOOK_URL": alerts.url.get_secret_value(),
    }


async def conveyor(env: dict[str, str], *args: str) -> Ran:
    return await run(str(BIN / "conveyor"), *args, env=env)


async def job_json(env: dict[str, str], *args: str) -> Any:
    """`conveyor ARGS --json`, parsed."""
    ran = await conveyor(env, *args, "--json")
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


async def watch_failures(client: Client, settings: Settings) -> FailureWatchReport:
    """One run of the failure watcher (as its schedule starts it every minute), over the test's task queue, run by
    the `conveyor worker` process: the announcer of activity-shaped jobs that failed for good."""
    return await client.execute_workflow(
        "FailureWatcher",
        FailureWatchInput(lookback_seconds=300, task_queues=[settings.task_queue]),
        id=f"failure-watch-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=FailureWatchReport,
    )


async def test_a_teams_own_kind_is_enqueued_run_listed_failed_alerted_and_retried(
    temporal_env: WorkflowEnvironment, settings: Settings, crm: Webhook, webhook: Webhook
) -> None:
    env = plugin_env(settings, crm, webhook)
    refused = f"cust-{uuid.uuid4().hex[:8]}"
    crm.refused.add(refused)
    worker = await asyncio.create_subprocess_exec(str(BIN / "conveyor"), "worker", env=env)
    port = free_port()
    api = await asyncio.create_subprocess_exec(str(BIN / "conveyor"), "api", env=env | {"CONVEYOR_API_PORT": str(port)})
    try:
        bad_input = await conveyor(env, "enqueue", "crm_sync", '{"customer_id": "c 1", "email": "x"}')
        assert bad_input.code == 2 and "customer_id" in bad_input.err and "email" in bad_input.err

        good = await conveyor(env, "enqueue", "crm_sync", json.dumps({"customer_id": "c1", "email": "a@example.com"}))
        failing = await conveyor(env, "enqueue", "crm_sync", json.dumps({"customer_id": refused, "email": "b@x.io"}))
        assert good.code == 0 and failing.code == 0, good.err + failing.err
        good_id, failing_id = good.out.strip(), failing.out.strip()
        assert good_id.startswith("crm_sync-")

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}
        ) as http:

            async def enqueued() -> httpx.Response | None:
                try:
                    return await http.post("/jobs/crm_sync", json={"customer_id": "c2", "email": "c@example.com"})
                except httpx.TransportError:
                    return None  # the API process is still starting

            response = await eventually(enqueued, lambda r: r is not None, timeout=30)
            assert response is not None and response.status_code == 202, response
            by_http = response.json()["id"]

        done = await job_json(env, "wait", good_id)
        assert done["status"] == 200 and done["customer_id"] == "c1"
        status = await job_json(env, "status", good_id)
        assert status["kind"] == "crm_sync" and status["shape"] == "activity" and status["state"] == "completed"
        assert (await conveyor(env, "wait", failing_id)).code != 0

        failed = await eventually(lambda: job_json(env, "failed", "--kind", "crm_sync"), lambda rows: bool(rows))
        assert [(r["id"], r["failure"]["type"]) for r in failed] == [(failing_id, "CrmRejected")]
        listed = await job_json(env, "list", "--kind", "crm_sync")
        assert {r["id"] for r in listed} >= {good_id, failing_id, by_http}

        # Announced once, whoever comes first: the job's own last attempt, or the watcher (run twice: its windows
        # overlap, as the schedule's do).
        watched = [await watch_failures(temporal_env.client, settings) for _ in range(2)]
        assert all(failing_id in w.alerted + w.already_alerted for w in watched) and watched[1].alerted == []

        async def alerts() -> list[dict[str, Any]]:
            return [p for p in webhook.posts if p["job_id"] in {good_id, failing_id, by_http}]

        [alert] = await eventually(alerts, bool)
        assert (alert["job_id"], alert["kind"], alert["failure_type"]) == (failing_id, "crm_sync", "CrmRejected")
        assert refused in alert["message"]

        crm.refused.clear()
        assert (await conveyor(env, "retry", failing_id)).code == 0
        retried = await job_json(env, "wait", failing_id)
        assert retried["customer_id"] == refused
        assert await eventually(lambda: job_json(env, "failed", "--kind", "crm_sync"), lambda rows: rows == []) == []
        stats = await job_json(env, "stats")
        counts = stats["counts"]["crm_sync"]
        assert sum(queue["completed"] for queue in counts.values()) == 3  # the retried job counts once
        assert sum(queue["failed"] for queue in counts.values()) == 0
        assert {p["customer_id"] for p in crm.posts} == {"c1", "c2", refused}
        assert await alerts() == [alert], "one alert, for the one job that failed"
    finally:
        for process in (worker, api):
            process.terminate()
            await process.wait()
