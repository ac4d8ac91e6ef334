"""No input gives a 5xx: listing filters and job ids Temporal's visibility store cannot search for are refused at
the edge (422 over HTTP, `InvalidJobError` in Python, exit 2 in the CLI) naming the field, and a query the server
refuses anyway is the caller's error, never "Temporal is unreachable"."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import Shape
from conveyor import Jobs, Settings
from conveyor.client import refused_query
from conveyor.errors import InvalidJobError
from conveyor.operations import list_jobs
from tests.api_server import ApiThread
from tests.cli import conveyor
from tests.started import sentinel, terminate

KEY_REFUSED = "invalid request: query.key: String should match pattern"
RECIPIENT_REFUSED = "recipient must be printable text"
UNSEARCHABLE = [
    ("recipient", '\U00010cf9\x82"Ó)', RECIPIENT_REFUSED),  # found by schemathesis: 503 after 7 s (C1 control U+0082)
    ("key", "\x00", KEY_REFUSED),  # by hand, `?key=%00`: SQLite reads a NUL as the statement's end
    ("recipient", "ann\x00@example.com", RECIPIENT_REFUSED),
    ("key", "order-\x1f", KEY_REFUSED),
    ("recipient", "\x1b[31mann@example.com", RECIPIENT_REFUSED),  # C0 control
    ("recipient", "ann@example.com\u2028", RECIPIENT_REFUSED),  # a line separator
    ("recipient", "ann\u200b@example.com", RECIPIENT_REFUSED),  # a format character (zero-width space)
    ("recipient", "\ue000@example.com", RECIPIENT_REFUSED),  # private use
    ("recipient", "\U00010cf9@example.com", RECIPIENT_REFUSED),  # unassigned (in this Python's Unicode)
]
"""One example per class of character refused; the pinned failures first. A key filter is held to the key rule
itself (the pattern in the OpenAPI document), a recipient to printable text."""


@pytest.mark.parametrize(("field", "value", "refusal"), UNSEARCHABLE)
async def test_unsearchable_filter_is_422_naming_the_field(
    api: ApiThread, field: str, value: str, refusal: str
) -> None:
    async with api.client() as http:
        response = await http.get("/jobs", params={field: value})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(refusal)


async def test_quotes_backslashes_and_other_scripts_are_searched_not_refused(
    temporal_env: WorkflowEnvironment, settings: Settings, api: ApiThread
) -> None:
    # The store parses a recipient search (SQLite FTS5) only once a row exists: make sure one does. In isolation,
    # on an empty server, a `"` passed; on the full suite's server it broke the query.
    marker = await sentinel(Jobs(temporal_env.client, settings))
    async with api.client() as http:
        for value in ["o'brien\\x@example.com", "Ó)@例え.jp", "\U00010c80😀", "+1 (212) 555-0100*"]:
            response = await http.get("/jobs", params={"recipient": value})
            assert response.status_code == 200 and response.json() == [], (value, response.text)
        quoted = await http.get("/jobs", params={"recipient": '"ann"@example.com'})
    assert quoted.status_code == 422 and quoted.json()["detail"] == 'recipient must not contain "'
    await terminate(Jobs(temporal_env.client, settings), {marker})


async def test_unsearchable_job_id_is_refused_over_http_and_in_python(
    temporal_env: WorkflowEnvironment, settings: Settings, api: ApiThread
) -> None:
    jobs = Jobs(temporal_env.client, settings)
    async with api.client() as http:
        for method, path in [("GET", "/jobs/email-%00"), ("POST", "/jobs/email-%01/retry"),
                             ("POST", "/jobs/email-%C2%82/cancel")]:  # fmt: skip
            response = await http.request(method, path)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["detail"].startswith("job id must be printable text")
    # Python callers can pass what HTTP cannot carry: a lone surrogate, which gRPC cannot even encode.
    for call in (jobs.status("email-\ud800"), jobs.retry("\udcff"), jobs.cancel("email-\x00")):
        with pytest.raises(InvalidJobError, match="job id must be printable"):
            await call
    with pytest.raises(InvalidJobError, match="recipient must be printable"):
        await jobs.list(recipient="\udcff@example.com")
    with pytest.raises(InvalidJobError, match="key must not be empty"):
        await jobs.list(key="")
    with pytest.raises(InvalidJobError, match="key must be printable"):
        await jobs.list(key="order-\x00")


async def test_cli_refuses_an_unsearchable_filter_with_exit_2(settings: Settings) -> None:
    # An argument that is not UTF-8 reaches Python as a lone surrogate (surrogateescape).
    ran = await conveyor(settings, "list", "--recipient", "\udcff@example.com")
    assert ran.code == 2, ran.err
    assert "recipient must be printable text" in ran.err and "unreachable" not in ran.err


async def test_a_query_the_server_refuses_is_the_callers_error_not_an_outage(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    # Past the edge's check (as a query built from a new filter might be): the dev server's SQLite store refuses
    # it and reports UNAVAILABLE. One quick retry instead of the SDK's eight, so the test takes no 7 s.
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        retry_config=RetryConfig(initial_interval_millis=10, max_retries=1),
    )
    with pytest.raises(RPCError) as refused:
        await list_jobs(client, {Shape.WORKFLOW: "JobKey = 'order-\x00'"}, limit=10)
    assert refused.value.status == RPCStatusCode.UNAVAILABLE  # what the server says...
    assert refused_query(refused.value)  # ...and what Conveyor makes of it: a refusal (422, exit 2), not an outage
