"""`SyncJobs` from real web apps: the Django view and the Flask route of docs/producing/python.md, as written,
served by each framework's own test client, each enqueuing a job that a real worker completes."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from conveyor import InvalidJobError, Jobs, JobState, JobTimeout, Settings, SyncJobs
from tests.django_site import django_ready
from tests.smtp_server import SmtpServer
from tests.snippets import ROOT, block
from tests.waiting import eventually

PAGE = ROOT / "docs" / "producing" / "python.md"


def export(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the `CONVEYOR_*` variables a deployed app would have: `settings`' server and task queues."""
    for name in ("temporal_address", "task_queue", "sms_task_queue", "reports_task_queue"):
        monkeypatch.setenv(f"CONVEYOR_{name.upper()}", str(getattr(settings, name)))


@pytest.fixture
def producer_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of an app producing to the test's server and task queues."""
    export(settings, monkeypatch)


def run_snippet(starting: str) -> dict[str, Any]:
    """Execute the docs' block as a module would run, and hand back its globals."""
    namespace: dict[str, Any] = {"__name__": "docs_snippet"}
    exec(compile(block(PAGE, starting), str(PAGE), "exec"), namespace)
    return namespace


@pytest.fixture
def closing() -> Iterator[list[SyncJobs]]:
    """SyncJobs made by a test, closed after it (their loop threads stop)."""
    made: list[SyncJobs] = []
    yield made
    for jobs in made:
        jobs.close()


@pytest.fixture
def django_client() -> Iterator[Callable[[Any], Any]]:
    """Django's test client for a one-route app serving a view at /signup (the test shop's project, with this
    module as its URLconf)."""
    from django.test import Client, override_settings
    from django.urls import path

    django_ready()

    def client(view: Any) -> Any:
        urlpatterns[:] = [path("signup", view)]
        return Client()

    with override_settings(ROOT_URLCONF=__name__):
        yield client


urlpatterns: list[Any] = []
"""The Django app's URLconf (this module is its ROOT_URLCONF)."""


async def test_django_view_enqueues_an_email_that_a_worker_sends(
    jobs: Jobs,
    producer_env: None,
    smtp_server: SmtpServer,
    closing: list[SyncJobs],
    django_client: Callable[[Any], Any],
) -> None:
    app = run_snippet("# myapp/views.py")
    closing.append(app["jobs"])
    client = django_client(app["signup"])
    to = f"django-{uuid.uuid4().hex[:8]}@example.com"
    # The view blocks on its own loop thread; the test's loop (which runs the worker) must stay free meanwhile.
    response = await asyncio.to_thread(client.post, "/signup", {"email": to, "name": "Dee"})
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]
    assert job_id == f"email-signup-{to}"
    await jobs.result(job_id)
    [message] = smtp_server.to(to)
    assert message["Subject"] == "Welcome to Conveyor, Dee!"

    refused = await asyncio.to_thread(client.post, "/signup", {"email": "not-an-address", "name": "X"})
    assert refused.status_code == 422 and "to.0" in refused.json()["error"]


async def test_flask_route_enqueues_a_text_and_waits_for_the_worker(
    jobs: Jobs, producer_env: None, closing: list[SyncJobs]
) -> None:
    app = run_snippet("from flask import")
    closing.append(app["jobs"])
    client = app["app"].test_client()
    response = await asyncio.to_thread(client.post, "/codes", json={"phone": "+1 (202) 555-0143"})
    assert response.status_code == 201, response.text
    assert response.json["sent"] == "+12025550143"
    assert (await jobs.status(response.json["job"])).state.value == "completed"


async def test_one_sync_client_serves_many_threads(
    own_jobs: Jobs, monkeypatch: pytest.MonkeyPatch, closing: list[SyncJobs]
) -> None:
    """As under a threaded WSGI server: requests on several threads share one SyncJobs and its one loop. A server
    of the test's own: its `stats` count these eight texts and nothing else."""
    export(own_jobs.settings, monkeypatch)
    sync = SyncJobs()
    closing.append(sync)
    ids: list[str] = []
    errors: list[BaseException] = []

    def request(n: int) -> None:
        try:
            handle = sync.sms({"to": "+12025550143", "body": f"code {n}"}, key=f"threads-{uuid.uuid4().hex}-{n}")
            handle.result(timeout=60)
            ids.append(handle.id)
        except BaseException as e:  # collected: an assertion in a thread would be lost
            errors.append(e)

    def serve() -> None:
        threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)

    await asyncio.to_thread(serve)
    assert not errors, errors
    assert len(set(ids)) == 8
    sms = await eventually(
        lambda: asyncio.to_thread(lambda: sync.stats().by_kind()["sms"]), lambda c: c[JobState.COMPLETED] == 8
    )
    assert {state: n for state, n in sms.items() if n} == {"completed": 8}
    with pytest.raises(InvalidJobError):
        sync.sms({"to": "nope", "body": "x"})


async def test_a_wait_that_runs_out_of_time_leaves_the_job_alone(
    jobs: Jobs, producer_env: None, closing: list[SyncJobs]
) -> None:
    sync = SyncJobs()
    closing.append(sync)
    handle = sync.email({"to": ["later@example.com"], "subject": "Hi", "text": "Hi"}, delay=timedelta(hours=1))
    with pytest.raises(JobTimeout):
        await asyncio.to_thread(handle.result, 0.2)
    assert sync.status(handle.id).state is JobState.SCHEDULED
    sync.cancel(handle.id)
