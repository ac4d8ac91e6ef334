"""A task that waits for the test to let it finish, so its worker can be killed while it runs (named in the
backend's `OPTIONS["MODULES"]`: workers import it besides the apps' `tasks` modules)."""

import time
from pathlib import Path

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from shop.models import Receipt


@task
def receipt_when_let(order_id: int, gate: str) -> int:
    """Say it started (`<gate>.started`), wait for `gate` to exist, then write the order's receipt once."""
    Path(f"{gate}.started").touch()
    while not Path(gate).exists():
        time.sleep(0.05)  # noqa: sleep-ok (the task's own wait for the test's gate, in the worker)
    receipt, _ = Receipt.objects.get_or_create(order_id=order_id)
    return receipt.pk
