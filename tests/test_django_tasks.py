"""Conveyor as a Django task backend, driven through Django's own API only: the test shop
(`tests/django_project`) enqueues from a view through Django's test client, a Conveyor worker on the shared dev
server runs the tasks against the shop's SQLite database, and `get_result` reads back what Temporal recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.kinds import KINDS, NAME
from conveyor import Jobs, Settings, job
from conveyor.contrib.django import job_options, kinds
from conveyor.contrib.django.compat import InvalidTaskError, TaskResultDoesNotExist, TaskResultStatus
from conveyor.contrib.django.kinds import kind_name, priority_level
from tests.cli import BIN, env_for, run, stop_worker
from tests.conftest import settings_for
from tests.django_site import PROJECT, django_ready
from tests.smtp_server import SmtpServer
from tests.snippets import ROOT, block
from tests.waiting import eventually
from tests.webhook import Webhook
from worker.build import build_workers
from worker.run import running

PAGE = ROOT / "docs" / "django.md"


@pytest.fixture(scope="module")
async def shop(
    temporal_env: WorkflowEnvironment,
    smtp_server: SmtpServer,
    webhook: Webhook,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Jobs]:
    """The shop's tasks declared (their module imported, as `conveyor worker --django` does) and one worker
    hosting them for the module, on task queues of its own, alerting to the session's webhook; Django's task
    handles point at it."""
    await asyncio.to_thread(django_ready)  # migrates: Django's ORM refuses to run on an event loop
    import shop.tasks  # noqa: F401  # tests/django_project: declares the kinds

    settings = settings_for(
        temporal_env, smtp_server, tmp_path_factory.mktemp("shop"), alert_webhook_url=webhook.url.get_secret_value()
    )
    job.configure(settings)
    try:
        async with running(build_workers(temporal_env.client, settings)):
            yield Jobs(temporal_env.client, settings)
    finally:
        job.configure(None)
        # Withdrawn, so the suite's other tests see only the kinds they expect.
        for declared in kinds._declared.values():
            KINDS.remove(declared.kind)
        kinds._declared.clear()


@contextlib.contextmanager
def producing_to(settings: Settings, shop: Jobs) -> Iterator[None]:
    """Django's task handles pointed at `settings`' queues for a while, then back at the module's."""
    job.configure(settings)
    try:
        yield
    finally:
        job.configure(shop.settings)


async def finished(task: Any, result_id: str, timeout: float = 60) -> Any:
    """The task's result once it has finished (read through Django's `aget_result`)."""
    return await eventually(lambda: task.aget_result(result_id), lambda r: r.is_finished, timeout=timeout)


async def test_a_view_enqueues_a_task_that_writes_its_row(shop: Jobs) -> None:
    from django.test import Client
    from shop.models import Receipt
    from shop.tasks import charge_card, send_receipt

    order = uuid.uuid4().int % 1_000_000_000
    response = await asyncio.to_thread(Client().post, f"/orders/{order}/checkout")
    assert response.status_code == 202, response.content
    task_id = response.json()["task"]

    result = await finished(send_receipt, task_id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    receipt = await asyncio.to_thread(Receipt.objects.get, order_id=order)
    assert result.return_value == receipt.pk
    assert result.args == [order] and result.kwargs == {}
    assert result.attempts == 1 and result.errors == [] and result.worker_ids[0]
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at
    # A job like any other: its own kind, named from the task's import path.
    status = await shop.status(task_id)
    assert (status.kind, status.state.value) == ("shop_tasks_send_receipt", "completed")
    with pytest.raises(Exception, match="Task does not match"):  # Django's TaskResultMismatch
        await charge_card.aget_result(task_id)


async def test_a_key_enqueues_a_task_once_and_a_tenant_finds_it(shop: Jobs) -> None:
    """Under `job_options`, the same key enqueues once (the same result id, one run); the tenant is the job's, so
    `conveyor list --tenant` (the real command, knowing the project's kinds as the docs say) lists it."""
    from shop.models import Receipt
    from shop.tasks import send_receipt

    order, tenant = uuid.uuid4().int % 1_000_000_000, f"shop-{uuid.uuid4().hex[:6]}"
    with job_options(key=f"receipt-{order}", tenant=tenant):
        first = await send_receipt.aenqueue(order)
        again = await asyncio.to_thread(send_receipt.enqueue, order)
    assert again.id == first.id
    result = await finished(send_receipt, first.id)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.attempts == 1
    assert await asyncio.to_thread(Receipt.objects.filter(order_id=order).count) == 1
    # The command knows the project's kinds as the docs say: the project named in CONVEYOR_JOBS.
    env = env_for(shop.settings) | {
        "CONVEYOR_JOBS": "conveyor.contrib.django.project", "DJANGO_SETTINGS_MODULE": "shopsite.settings",
        "PYTHONPATH": str(PROJECT),
    }  # fmt: skip
    listed = await run(str(BIN / "conveyor"), "list", "--tenant", tenant, "--json", env=env)
    assert listed.code == 0, listed.err
    assert [(row["id"], row["state"]) for row in json.loads(listed.out)] == [(first.id, "completed")]


async def test_a_failing_task_fails_after_its_attempts_with_its_error(shop: Jobs, webhook: Webhook) -> None:
    def alerts_of(job_id: str) -> list[dict[str, Any]]:
        return [post for post in webhook.posts if post.get("job_id") == job_id]

    from django.conf import settings
    from shop.tasks import PaymentDeclined, charge_card

    enqueued = await charge_card.aenqueue(42)
    assert enqueued.status == TaskResultStatus.READY and enqueued.enqueued_at is not None

    result = await finished(charge_card, enqueued.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2  # its own ATTEMPTS in OPTIONS["TASKS"]
    [error] = result.errors
    assert error.exception_class is PaymentDeclined
    assert "raise PaymentDeclined" in error.traceback and "order 42: declined" in error.traceback
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018  # Django's property raises for a failed task
    # The secret the message carried is in neither Django's view nor Conveyor's.
    status = await shop.status(enqueued.id)
    assert status.state.value == "failed" and status.failure is not None
    assert settings.PAYMENT_API_KEY not in error.traceback + status.failure.message

    # Conveyor's operations have it: alerted once, in the dead-letter view, retried as a new run of its attempts.
    # asyncio.sleep(0, x): `x` as an awaitable for `eventually`, not a wait.
    [alert] = await eventually(lambda: asyncio.sleep(0, alerts_of(enqueued.id)), bool)  # noqa: sleep-ok
    assert alert["failure_type"] == "shop.tasks.PaymentDeclined" and settings.PAYMENT_API_KEY not in str(alert)
    failed = await eventually(lambda: shop.failed(kind="shop_tasks_charge_card"), lambda jobs: bool(jobs))
    assert enqueued.id in {f.id for f in failed}
    await shop.retry(enqueued.id)
    again = await eventually(
        lambda: charge_card.aget_result(enqueued.id),
        lambda r: r.is_finished and r.finished_at != result.finished_at,  # the new run's end
        timeout=60,
    )
    assert again.status == TaskResultStatus.FAILED and again.attempts == 2 and again.finished_at > result.finished_at


async def test_an_async_task_gets_its_attempt_number_in_its_context(shop: Jobs) -> None:
    from shop.tasks import sync_stock

    enqueued = await sync_stock.aenqueue("sku-1")
    result = await finished(sync_stock, enqueued.id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2 == result.attempts  # the first attempt raised; the second saw attempt 2
    assert [e.exception_class for e in result.errors] == [ConnectionError]  # the retried attempt's error
    assert result.started_at < result.last_attempted_at  # started_at is the first attempt's


async def test_run_after_holds_the_task_until_then(shop: Jobs) -> None:
    from django.utils import timezone
    from shop.tasks import send_receipt

    later = await asyncio.to_thread(send_receipt.using(run_after=timezone.now() + timedelta(hours=1)).enqueue, 1)
    await asyncio.to_thread(later.refresh)
    assert later.status == TaskResultStatus.READY and later.started_at is None
    await shop.cancel(later.id)

    soon = timezone.now() + timedelta(seconds=1)
    enqueued = await asyncio.to_thread(send_receipt.using(run_after=soon).enqueue, 2)
    result = await finished(send_receipt, enqueued.id)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.started_at >= soon


def test_bad_input_raises_djangos_own_errors_before_anything_is_enqueued(shop: Jobs) -> None:
    from shop.tasks import send_receipt

    with pytest.raises(TypeError, match="Unsupported type"):
        send_receipt.enqueue(object())
    with pytest.raises(InvalidTaskError, match="Queue 'bulk' is not valid"):
        send_receipt.using(queue_name="bulk")
    with pytest.raises(InvalidTaskError, match="priority"):
        send_receipt.using(priority=101)
    with pytest.raises(InvalidTaskError, match="aware"):
        send_receipt.using(run_after=datetime(2030, 1, 1))  # naive, with USE_TZ
    with pytest.raises(TaskResultDoesNotExist):
        send_receipt.get_result(f"shop_tasks_send_receipt-{uuid.uuid4().hex}")


async def test_priority_orders_the_backlog(
    shop: Jobs, temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Tasks enqueued with Django's priorities before any worker serves their queue run in Django's order (larger
    first) on a worker that runs one at a time: the receipts' ids are the order they ran in."""
    from shop.models import Receipt
    from shop.tasks import send_receipt

    own = settings_for(temporal_env, smtp_server, tmp_path, max_concurrent_activities=1)
    priorities = [-100, 0, 100, -50, 50]
    orders = {uuid.uuid4().int % 1_000_000_000: p for p in priorities}
    with producing_to(own, shop):
        enqueued = [await send_receipt.using(priority=p).aenqueue(order) for order, p in orders.items()]
        async with running(build_workers(temporal_env.client, own)):
            for result in enqueued:
                await finished(send_receipt, result.id)
    ran = await asyncio.to_thread(lambda: list(Receipt.objects.filter(order_id__in=orders).order_by("pk")))
    assert [orders[r.order_id] for r in ran] == sorted(priorities, reverse=True)


def test_the_backend_stands_on_this_djangos_own_task_api() -> None:
    """Django 6's `django.tasks` where Django has it (`tests/test_django6.py` runs this module there), the
    backport's `django_tasks` on Django 5.2."""
    import django

    from conveyor.contrib.django import compat

    expected = "django.tasks" if django.VERSION >= (6,) else "django_tasks"
    assert compat.BaseTaskBackend.__module__.startswith(expected)
    assert compat.Task.__module__.startswith(expected) and compat.TaskResult.__module__.startswith(expected)


def test_priority_keeps_djangos_order_on_temporals_levels() -> None:
    levels = [priority_level(p, 5) for p in range(100, -101, -1)]
    assert levels == sorted(levels) and set(levels) == {1, 2, 3, 4, 5}  # larger runs sooner: a lower key
    assert priority_level(0, 5) == 3  # Django's default is Conveyor's
    assert [priority_level(p, 3) for p in (100, 0, -100)] == [1, 2, 3]


def test_every_task_path_names_a_valid_kind() -> None:
    assert kind_name("shop.tasks.send_receipt") == "shop_tasks_send_receipt"
    long = [kind_name(f"billing.integrations.stripe.tasks.refund_{n}") for n in ("card", "bank")]
    assert all(NAME.match(name) for name in long) and long[0] != long[1]


def test_the_docs_show_the_shops_own_code() -> None:
    for path in ("shop/tasks.py", "shop/views.py"):
        assert block(PAGE, f"# {path}") == (PROJECT / path).read_text().strip()


async def test_a_task_whose_worker_is_killed_completes_once_on_the_next(
    shop: Jobs, temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """`conveyor worker --django shopsite.settings`, run from the project's directory as a team runs it, hosts
    the project's tasks; killed (-9) mid-task, the task runs again on the next worker and writes its row once."""
    from django.conf import settings as django_settings
    from shop.crash_tasks import receipt_when_let
    from shop.models import Receipt

    own = settings_for(temporal_env, smtp_server, tmp_path)  # queues no in-process worker serves
    env = env_for(own) | {"SHOP_DATABASE": str(django_settings.DATABASES["default"]["NAME"])}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    async def worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            str(BIN / "conveyor"), "worker", "--django", "shopsite.settings", cwd=PROJECT, env=env
        )

    order, gate = uuid.uuid4().int % 1_000_000_000, tmp_path / "gate"
    first = await worker()
    with producing_to(own, shop):
        try:
            enqueued = await receipt_when_let.aenqueue(order, str(gate))
            started = tmp_path / "gate.started"  # asyncio.sleep(0, x): x as an awaitable, not a wait
            await eventually(lambda: asyncio.sleep(0, started.exists()), bool, timeout=180)  # noqa: sleep-ok
        finally:
            await stop_worker(first, kill=True)
        second = await worker()
        gate.touch()
        try:
            result = await finished(receipt_when_let, enqueued.id, timeout=180)  # a worker process starts
        finally:
            await stop_worker(second)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.attempts == 2
    assert await asyncio.to_thread(Receipt.objects.filter(order_id=order).count) == 1
    assert result.return_value == (await asyncio.to_thread(Receipt.objects.get, order_id=order)).pk


def test_the_docs_settings_make_a_backend(shop: Jobs) -> None:
    from conveyor.contrib.django import TaskBackend

    namespace: dict[str, Any] = {}
    exec(block(PAGE, "# settings.py"), namespace)
    backend = TaskBackend("default", namespace["TASKS"]["default"])
    assert backend.queues == {"default", "reports"}


async def test_the_docs_unit_test_runs_the_task_inline(shop: Jobs) -> None:
    from shop.models import Receipt

    namespace: dict[str, Any] = {"__name__": "docs_snippet"}
    exec(block(PAGE, "# shop/tests.py"), namespace)
    await asyncio.to_thread(namespace["test_checkout_writes_a_receipt"])
    assert await asyncio.to_thread(Receipt.objects.filter(order_id=31).exists)


def test_options_are_checked_when_django_creates_the_backend(shop: Jobs) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from conveyor.contrib.django import TaskBackend

    for options, error in [
        ({"ATTEMPT": 3}, "no option ATTEMPT"),
        ({"TASKS": {"shop.tasks.send_receipt": {"TIMEOUT": "soon"}}}, "shop.tasks.send_receipt: a duration is"),
        ({"NEVER_RETRY": ["shop.tasks.NoSuchError"]}, "NoSuchError"),
        ({"PRIORITY_LEVELS": 9}, "PRIORITY_LEVELS is 1 to 5"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=error):
            TaskBackend("default", {"QUEUES": ["default"], "OPTIONS": options})
    policy, never_retry = kinds.policy_of({"ATTEMPTS": 4, "NEVER_RETRY": ["shop.tasks.PaymentDeclined"]}, "")
    assert policy.max_attempts == 4 and "shop.tasks.PaymentDeclined" in policy.never_retry
    assert [e.__name__ for e in never_retry] == ["PaymentDeclined"]
