"""The real parts every test stands on: a Temporal dev server, the time-skipping server, an SMTP server with
STARTTLS + AUTH, a moto server speaking S3 and SNS over HTTP, and a Conveyor worker on task queues of its own
per test."""

from __future__ import annotations

import sysconfig
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from contracts.config import SmtpTls
from contracts.kinds import Shape
from conveyor import Jobs, Settings, search_attributes
from conveyor.dev.stack import FAIRNESS, SINGLE_PARTITION
from tests import background, properties
from tests.api_server import KEY as API_KEY
from tests.api_server import ApiThread
from tests.browser import chromium
from tests.postgres import PostgresServer
from tests.smtp_server import PASSWORD, USER, SmtpServer, free_port
from tests.webhook import Webhook
from worker.build import build_workers
from worker.run import running

if TYPE_CHECKING:
    from playwright.async_api import Browser

BIN = Path(sysconfig.get_path("scripts"))
TEMPORAL = BIN / "temporal"


def pytest_addoption(parser: pytest.Parser) -> None:
    properties.add_option(parser)


@pytest.hookimpl(tryfirst=True)  # before hypothesis' plugin reads --hypothesis-seed
def pytest_configure(config: pytest.Config) -> None:
    properties.configure(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the CPU-only checks whose tests were collected, in the background (`tests.background`)."""
    if any(item.nodeid == background.MYPY_TEST for item in items):
        background.start_mypy()


def pytest_report_header(config: pytest.Config) -> str:
    return properties.header(config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    # Again at the end (a -q run shows no header): how to replay this run's order and examples.
    order = getattr(config.option, "randomly_seed", None)  # None under `-p no:randomly`
    terminalreporter.write_line(f"{properties.header(config)}; test order: --randomly-seed={order}")


async def start_dev_server(*dynamic_config: str, fairness: bool = True) -> WorkflowEnvironment:
    """A real Temporal dev server (in memory) with Conveyor's search attributes, one task-queue partition and, as
    `conveyor dev` runs it, task-queue fairness (and `dynamic_config` values, `key=value`)."""
    extra: list[str] = []
    for value in (*SINGLE_PARTITION, *(FAIRNESS if fairness else ()), *dynamic_config):
        extra += ["--dynamic-config-value", value]
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL),
        dev_server_extra_args=extra,
    )


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server every test shares, for the whole session."""
    async with await start_dev_server() as env:
        yield env


@pytest.fixture
async def own_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of the test's own (up in under a second), for figures of a whole namespace — `stats` — that
    the shared server's other jobs would blur into `>= 1`."""
    async with await start_dev_server() as env:
        yield env


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers, delays and backoff pass in an instant. One per test (it starts in
    a tenth of a second): a test that skips three days leaves the server's clock three days ahead of the wall
    clock, and a later test reading states against it (a job "scheduled for later") would see them wrong."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=pydantic_data_converter
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
def webhook() -> Iterator[Webhook]:
    """A local HTTP server recording the JSON POSTed to it (alert webhooks)."""
    hook = Webhook()
    hook.start()
    yield hook
    hook.stop()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """aiosmtpd requiring STARTTLS and AUTH, with a certificate from a CA made for this session."""
    server = SmtpServer(tmp_path_factory.mktemp("smtp"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster for the session, started only when a test asks for it (~2-4 s here)."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on a free port: S3 and SNS over real HTTP to real boto3. Yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def settings_for(env: WorkflowEnvironment, smtp: SmtpServer, tmp: Path, **overrides: object) -> Settings:
    """Settings pointing at the test servers, on task queues of the test's own."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    values: dict[str, object] = {
        "temporal_address": env.client.service_client.config.target_host,
        "task_queue": queue,
        "sms_task_queue": f"{queue}-sms",
        "reports_task_queue": f"{queue}-reports",
        "images_task_queue": f"{queue}-images",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_tls": SmtpTls.STARTTLS,
        "smtp_username": USER,
        "smtp_password": SecretStr(PASSWORD),
        "smtp_ca_file": smtp.ca_file,
        "smtp_timeout": 10.0,
        "mail_from": "Conveyor Tests <jobs@conveyor.test>",
        "home": tmp / "conveyor-home",
        "data_dir": tmp,  # tests write their CSV sources in their tmp_path
        "metrics_port": 0,  # tests that scrape metrics choose a free port
        "health_port": 0,  # likewise for the worker's health check
        "api_port": free_port(),
        "api_keys": [SecretStr(API_KEY)],
        "alert_webhook_allow_internal": True,  # the tests' alert webhook listens on loopback
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture
def shape() -> Shape | None:
    """The shape email and SMS jobs run in: None asks the server, as by default (the dev server runs standalone
    activities). A test of what both shapes must do parametrizes it: `@pytest.mark.parametrize("shape", Shape)`
    (the worker hosts both; only the producer chooses)."""
    return None


@pytest.fixture
def settings(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, shape: Shape | None
) -> Settings:
    """Settings for the dev server and the test SMTP server, producing email and SMS jobs in `shape`."""
    standalone = None if shape is None else shape is Shape.ACTIVITY
    return settings_for(temporal_env, smtp_server, tmp_path, standalone_activities=standalone)


@pytest.fixture
async def jobs(temporal_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Jobs]:
    """A `Jobs` client with a Conveyor worker running on the test's task queue (dev server)."""
    async with running(build_workers(temporal_env.client, settings)):
        yield Jobs(temporal_env.client, settings)


@pytest.fixture
async def own_jobs(own_temporal: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Jobs]:
    """`jobs` on a dev server of the test's own: for the dead-letter view and retry-all, whose answers cover the
    whole namespace (on the shared server, other tests' failed jobs would be in them)."""
    settings = settings_for(own_temporal, smtp_server, tmp_path)
    async with running(build_workers(own_temporal.client, settings)):
        yield Jobs(own_temporal.client, settings)


@pytest.fixture
def api(settings: Settings) -> Iterator[ApiThread]:
    """The HTTP API on a loopback port, for the test's settings (its task queues, the test API key)."""
    with ApiThread(settings) as server:
        yield server


@pytest.fixture
async def time_jobs(time_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Jobs]:
    """The same on the time-skipping server (which has no custom search attributes)."""
    settings = settings_for(time_env, smtp_server, tmp_path, search_attributes=False)
    async with running(build_workers(time_env.client, settings)):
        yield Jobs(time_env.client, settings)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium shared by the session's page tests (each opens its own context in it)."""
    async with chromium() as launched:
        yield launched
