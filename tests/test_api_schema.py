"""Schemathesis against the API's own OpenAPI document, through the real server: whatever it generates (valid
and invalid), no 500, every response matches the document, and nothing but what got a 202 was enqueued."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import KINDS
from conveyor import Settings
from conveyor.http import create_app
from tests.api_server import KEY, ApiThread
from tests.waiting import started_on

ACCEPTED: set[str] = set()
"""Job ids the API answered 202 for, across every generated case."""


@pytest.fixture(scope="module")
def served(temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiThread]:
    from tests.conftest import settings_for
    from tests.smtp_server import SmtpServer

    smtp = SmtpServer(tmp_path_factory.mktemp("schema-smtp"))  # never contacted: no worker runs here
    with ApiThread(settings_for(temporal_env, smtp, tmp_path_factory.mktemp("schema"))) as api:
        yield api


# The document the app itself serves at /openapi.json (built without a server, so tests can be collected);
# the cases are sent to the real server below.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, served: ApiThread) -> None:
    response = case.call_and_validate(
        base_url=served.url,
        headers={"Authorization": f"Bearer {KEY}"},
        # Not `negative_data_rejection`: the API ignores unknown query parameters, as HTTP APIs do, and the key
        # sent here defeats its missing-header cases; test_api.py checks each refusal explicitly instead.
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    if response.status_code == 202 and case.path in {f"/jobs/{kind}" for kind in KINDS}:
        ACCEPTED.add(response.json()["id"])


async def test_generated_requests_enqueued_only_what_was_accepted(
    temporal_env: WorkflowEnvironment, served: ApiThread
) -> None:
    settings: Settings = served.settings
    queues = (settings.task_queue, settings.sms_task_queue, settings.reports_task_queue)
    found: set[str] = set()
    async with asyncio.timeout(20):
        while found != ACCEPTED:
            found = await started_on(temporal_env.client, queues)
            if not found <= ACCEPTED:
                break
    assert found == ACCEPTED, f"enqueued without a 202: {found - ACCEPTED}"
