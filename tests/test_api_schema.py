"""Schemathesis against the API's own OpenAPI document, through the real server: whatever it generates (valid
and invalid), no 5xx, every response matches the document (status code, content type, body schema, headers), and
nothing but what got a 202 was enqueued. Examples are drawn as tests/properties.py says (seeded unless --random)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from temporalio.testing import WorkflowEnvironment

from conveyor import Jobs, Settings
from conveyor.http import create_app
from tests import properties
from tests.api_server import KEY, ApiThread
from tests.started import after_sentinel, jobs_on, terminate
from worker.build import served_queues


@pytest.fixture(scope="module")
async def served(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiThread]:
    from tests.conftest import settings_for
    from tests.smtp_server import SmtpServer

    smtp = SmtpServer(tmp_path_factory.mktemp("schema-smtp"))  # never contacted: no worker runs here
    with ApiThread(settings_for(temporal_env, smtp, tmp_path_factory.mktemp("schema"))) as api:
        yield api
    # What its 202s enqueued (nothing serves the queues) ends here, so no later listing or count meets it.
    jobs = Jobs(temporal_env.client, api.settings)
    await terminate(jobs, await jobs_on(temporal_env.client, api.settings))


# The document the app itself serves at /openapi.json (built without a server, so tests can be collected);
# the cases are sent to the real server below.
DOCUMENT = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
ENQUEUE = [
    path
    for path, operations in DOCUMENT["paths"].items()
    if path.startswith("/jobs/") and "{" not in path and "post" in operations
]
"""`POST /jobs/<kind>` for every kind the API enqueues."""
AUTH = {"Authorization": f"Bearer {KEY}"}
CANNOT_HOLD = [positive_data_acceptance, negative_data_rejection]
"""Every other check runs (server errors, status codes, content types, response schemas and headers, ignored
auth, missing required headers, unsupported methods). These two would need the document to state every rule the
job models enforce, which JSON Schema cannot: a phone number's validity, "a template or a subject", a printable job
id (schema-valid bodies and ids get a documented 422), pydantic's lax coercions and unknown query parameters
ignored as HTTP APIs do (schema-invalid requests that succeed). test_api.py checks each refusal explicitly."""


@schema.parametrize()
@settings(max_examples=properties.examples(30))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, served: ApiThread) -> None:
    case.call_and_validate(base_url=served.url, headers=AUTH, excluded_checks=CANNOT_HOLD)


async def test_generated_requests_enqueue_only_what_was_accepted(
    temporal_env: WorkflowEnvironment, api: ApiThread
) -> None:
    # Its own generated cases (valid and invalid) against every enqueue route, on task queues of its own, so it
    # stands alone in any order; the ids of the 202s are the only jobs that may exist there once a sentinel
    # enqueued after them shows. A generated Idempotency-Key ("0", "null") may name a job another test made (ids
    # are the namespace's): the 202 then hands that job back, and it stays on its own queue.
    accepted: set[str] = set()
    answers: Counter[int] = Counter()
    cases = st.one_of([schema[path]["POST"].as_strategy(mode) for path in ENQUEUE for mode in GenerationMode])

    @settings(max_examples=properties.examples(60))
    @given(cases)
    def enqueue(case: schemathesis.Case) -> None:
        response = case.call(base_url=api.url, headers=AUTH)
        answers[response.status_code] += 1
        if response.status_code == 202:
            accepted.add(response.json()["id"])

    await asyncio.to_thread(enqueue)  # the API runs on its own loop; the calls are blocking
    async with httpx.AsyncClient(base_url=api.url, headers=AUTH) as http:
        # And each route's documented examples: the schema admits far more than the API accepts, so 60 generated
        # cases may hold no acceptable one (set order varies the draws between processes; one run got no 202).
        for path in ENQUEUE:
            documented = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            for example in documented.get("examples", {}).values():
                response = await http.post(path, json=example["value"])
                answers[response.status_code] += 1
                if response.status_code == 202:
                    accepted.add(response.json()["id"])
        sentinel = await http.post("/jobs/email?delay=P1D", json={"to": ["s@example.com"], "subject": "s", "text": "t"})
    marker = sentinel.json()["id"]
    started = await after_sentinel(temporal_env.client, api.settings, marker)
    jobs = Jobs(temporal_env.client, api.settings)
    await terminate(jobs, started | {marker})
    assert started <= accepted, f"enqueued without a 202: {started - accepted}"
    for handed_back in accepted - started:
        queue = (await (await jobs.locate(handed_back)).execution.describe()).task_queue
        assert queue not in served_queues(api.settings), f"{handed_back} on this test's queue but not listed"
    assert answers[202] and answers[422], answers  # both sides were exercised
