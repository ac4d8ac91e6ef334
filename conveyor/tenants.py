"""Tenants: whose job it is, so that one customer's flood never starves the others.

A job enqueued with `tenant="acme"` carries it as the *fairness key* of its Temporal priority: with fairness on
(`matching.enableFairness`, which `conveyor dev` and the compose stack turn on), a task queue dispatches the
backlog of each key in turn, weighted, instead of first come, first served. A workflow-shaped job passes its
priority on to the activities and child workflows it starts, so every step of it is dispatched as its tenant's.

Where the tenant is kept, for `list`, `stats`, `failed` and retry-all to filter by it: a workflow-shaped job's
`Tenant` search attribute; an activity-shaped job's priority (it carries no search attribute, so the web UI can
re-run it in one click), read back by a describe (`operations`).

Per-tenant weights and the per-tenant rate limit are the task queues' configuration on the server
(`UpdateTaskQueueConfig`, what `temporal task-queue config set` sends), applied from settings by `conveyor setup`
and by `conveyor dev` at start (`apply_config`, idempotent).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, UpdateTaskQueueConfigRequest
from temporalio.client import Client
from temporalio.common import Priority

from contracts.input_checks import TENANT_PATTERN
from conveyor.errors import InvalidJobError
from conveyor.settings import Settings

MIN_WEIGHT, MAX_WEIGHT = 0.001, 1000.0
"""The fairness weights Temporal accepts."""
REASON = "conveyor tenant settings"
"""Why the queue's configuration changed, as the server records it."""


def tenant_of(tenant: str | None) -> str | None:
    """`tenant` if it is a valid one (or None); `InvalidJobError` otherwise, before anything is enqueued."""
    if tenant is not None and (not isinstance(tenant, str) or not re.fullmatch(TENANT_PATTERN, tenant)):
        raise InvalidJobError("tenant must be 1-64 characters of letters, digits and -_.:@+=")
    return tenant


def weight_of(weight: float | None) -> float | None:
    """`weight` if Temporal accepts it (0.001 to 1000, a number); `InvalidJobError` otherwise."""
    if weight is None:
        return None
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise InvalidJobError(f"tenant weight must be a number from {MIN_WEIGHT} to {MAX_WEIGHT:g}")
    return float(weight)


def with_tenant(priority: Priority, tenant: str | None, weight: float | None = None) -> Priority:
    """`priority` with `tenant` as its fairness key and `weight` as its fairness weight, both checked. A weight
    needs a tenant; without one, the weights of the queue's configuration (`apply_config`) apply."""
    tenant, weight = tenant_of(tenant), weight_of(weight)
    if tenant is None:
        if weight is not None:
            raise InvalidJobError("a tenant weight needs a tenant")
        return priority
    return dataclasses.replace(priority, fairness_key=tenant, fairness_weight=weight)


def tenant_in(priority: Priority | None) -> str | None:
    """The tenant a job's priority names, if any."""
    return (priority.fairness_key or None) if priority is not None else None


async def apply_config(
    client: Client,
    namespace: str,
    queues: list[str],
    weights: Mapping[str, float],
    rps_limit: float | None,
) -> list[str]:
    """Set each queue's fairness weights and per-tenant rate limit (for its workflow and its activity tasks) to
    `weights` and `rps_limit` (None: no limit), unsetting weights the server has that `weights` no longer names.
    Idempotent: a queue already configured so is left alone. Returns the `queue/type` pairs it changed."""
    for name, weight in weights.items():
        tenant_of(name), weight_of(weight)
    changed: list[str] = []
    for queue in queues:
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            current = (
                await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=namespace,
                        task_queue=TaskQueue(name=queue),
                        task_queue_type=kind,
                        report_config=True,
                    )
                )
            ).config
            # The server limits activity tasks only ("not allowed on workflow task queues"): a workflow-shaped
            # job's steps are its activities, so they are what the limit holds back.
            limit = rps_limit if kind == TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY else None
            has_limit = current.HasField("fairness_keys_rate_limit_default")
            limit_now = current.fairness_keys_rate_limit_default.rate_limit.requests_per_second if has_limit else None
            stale = [k for k in current.fairness_weight_overrides if k not in weights]
            if dict(current.fairness_weight_overrides) == dict(weights) and limit_now == limit:
                continue
            request = UpdateTaskQueueConfigRequest(
                namespace=namespace,
                identity="conveyor",
                task_queue=queue,
                task_queue_type=kind,
                set_fairness_weight_overrides=dict(weights),
                unset_fairness_weight_overrides=stale,
            )
            if limit_now != limit:
                update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason=REASON)
                if limit is not None:
                    update.rate_limit.CopyFrom(RateLimit(requests_per_second=limit))
                request.update_fairness_key_rate_limit_default.CopyFrom(update)
            await client.workflow_service.update_task_queue_config(request)
            changed.append(f"{queue}/{TaskQueueType.Name(kind).removeprefix('TASK_QUEUE_TYPE_').lower()}")
    return changed


async def apply_tenant_config(client: Client, settings: Settings) -> list[str]:
    """`apply_config` of the settings' tenant weights and rate limit to every task queue of theirs."""
    queues = sorted(set(settings.queues.values()))
    return await apply_config(client, settings.namespace, queues, settings.tenant_weights, settings.tenant_rps_limit)
