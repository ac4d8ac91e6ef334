"""The HTTP API under hostile input: every bad request is one clear 4xx before anything is enqueued, keys never
travel or get logged in URLs, and only Conveyor's own jobs can be read, retried or cancelled."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from conveyor import InvalidJobError, Jobs, Settings
from tests.api_server import KEY, ApiThread
from tests.started import started_besides
from tests.test_api import address, note


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [40, 300, 900])
@pytest.mark.parametrize("kind", ["email", "broadcast"])
async def test_deeply_nested_context_is_a_422(
    api: ApiThread, temporal_env: WorkflowEnvironment, settings: Settings, kind: str, levels: int
) -> None:
    body: dict[str, Any] = (
        {"to": [address()], "template": "welcome", "context": deep(levels)}
        if kind == "email"
        else {"source": "static:a@example.com", "message": {"template": "welcome", "context": deep(levels)}}
    )
    async with api.client() as http:
        posted = await http.post(f"/jobs/{kind}", json=body)
    assert posted.status_code == 422, posted.text
    assert "nested more than 32 levels deep" in posted.json()["detail"]
    assert await started_besides(Jobs(temporal_env.client, settings)) == set(), "a refused request enqueued"


async def test_workflows_that_are_not_conveyor_jobs_are_404(
    api: ApiThread, temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    foreign = f"payroll-{uuid.uuid4().hex}"
    handle = await temporal_env.client.start_workflow("Payroll", id=foreign, task_queue=f"other-{uuid.uuid4().hex}")
    async with api.client() as http:
        assert (await http.get(f"/jobs/{foreign}")).status_code == 404
        assert (await http.post(f"/jobs/{foreign}/cancel")).status_code == 404
        assert (await http.post(f"/jobs/{foreign}/retry")).status_code == 404
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # untouched
    await handle.terminate()


async def test_idempotency_key_with_other_input_is_a_409_naming_the_job(jobs: Jobs, api: ApiThread) -> None:
    key = f"order-{uuid.uuid4().hex[:8]}"
    first, other = note(address()), note(address())
    async with api.client() as http:
        posted = await http.post("/jobs/email", json=first, headers={"Idempotency-Key": key})
        again = await http.post("/jobs/email", json=first, headers={"Idempotency-Key": key})
        conflict = await http.post("/jobs/email", json=other, headers={"Idempotency-Key": key})
    assert posted.status_code == again.status_code == 202
    assert posted.json()["id"] == again.json()["id"] == f"email-{key}"
    assert conflict.status_code == 409 and f"email-{key}" in conflict.json()["detail"]


@pytest.mark.parametrize("query", ["api_key={key}", "token={key}", "key={key}", "kind=email&access_token=x"])
async def test_api_key_in_the_url_is_refused_and_never_logged(
    api: ApiThread, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.set_level(logging.INFO)
    async with api.client() as http:
        response = await http.get(f"/jobs?{query.format(key=KEY)}")
    assert response.status_code == 400 and "Authorization header" in response.json()["detail"]
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]  # (httpx logs its own URL)
    assert access and "/jobs?" in access[-1] and " 400" in access[-1]
    assert not any(KEY in line for line in access)


@pytest.mark.parametrize(
    "target",
    [
        "/jobs?key=order-{key}",  # a value that holds the key inside it
        "/jobs?kind=email&next=%2Fjobs%3Fsecret%3D{key}x",  # percent-encoded, inside another URL
        "/jobs?{key}=1",  # a parameter's name
        "/jobs/email-{key}",  # a job id: a 404 would have echoed it ("no job 'email-<key>'")
        "/jobs/email-{key}/retry",
    ],
)
async def test_a_url_holding_an_api_key_anywhere_is_refused_never_echoed_nor_logged(
    api: ApiThread, caplog: pytest.LogCaptureFixture, target: str
) -> None:
    caplog.set_level(logging.INFO)
    url = target.format(key=KEY)
    async with api.client() as http:
        response = await (http.post(url) if url.endswith("/retry") else http.get(url))
    assert response.status_code == 400 and "Authorization header" in response.json()["detail"]
    assert KEY not in response.text
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert access and "***" in access[-1] and " 400" in access[-1], access
    assert not any(KEY in line for line in access)


async def test_the_key_filter_still_works_with_an_ordinary_value(api: ApiThread) -> None:
    async with api.client() as http:
        assert (await http.get("/jobs?key=order-1")).status_code == 200


@pytest.mark.parametrize("priority", [True, 2.5, 0, 6])
async def test_bad_priority_is_invalid_before_enqueue(jobs: Jobs, priority: Any) -> None:
    with pytest.raises(InvalidJobError, match="priority"):
        await jobs.email(note(address()), priority=priority)


@pytest.mark.parametrize("delay", [timedelta(days=366), timedelta(days=999_999_999), timedelta(seconds=-1)])
async def test_one_delay_cap_for_python_callers(jobs: Jobs, delay: timedelta) -> None:
    with pytest.raises(InvalidJobError, match="365 days"):
        await jobs.email(note(address()), delay=delay)
