"""What Django's task API has no place for, given to the enqueues of a block: an idempotency key and a tenant.

    from conveyor.contrib.django import job_options

    with job_options(key=f"receipt-{order.pk}", tenant=order.shop.slug):
        send_receipt.enqueue(order.pk)

With a key, enqueueing the same task with the same arguments again hands back the same task (its result id is
the job's, fixed by the key), whether it is still waiting, running or done; other arguments under the same key
raise `KeyReused`. A key is one enqueue's: a block enqueueing several tasks gives each its own key. A context
variable carries them, so they reach `enqueue` and `aenqueue` alike, in threads and tasks of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_options: ContextVar[dict[str, Any] | None] = ContextVar("conveyor_django_job_options", default=None)


@contextlib.contextmanager
def job_options(
    *, key: str | None = None, tenant: str | None = None, tenant_weight: float | None = None
) -> Iterator[None]:
    """Enqueues in the block carry `key` (idempotent), `tenant` and `tenant_weight` (see the tenants page)."""
    given = {"key": key, "tenant": tenant, "tenant_weight": tenant_weight}
    token = _options.set({name: value for name, value in given.items() if value is not None})
    try:
        yield
    finally:
        _options.reset(token)


def current_options() -> dict[str, Any]:
    """The options of the innermost `job_options` block around the caller, if any."""
    return dict(_options.get() or {})
