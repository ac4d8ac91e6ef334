"""Which workers serve each task queue now: the jobs page's *Workers* column, so "no worker on conveyor-sms" shows
as soon as the last one stops.

Temporal's task-queue description lists every poller it saw in the last 5 minutes, a worker that stopped a minute
ago included. Two more signs tell a live one from a gone one:

- its worker heartbeats (`ListWorkers`; the SDK sends one a minute after the worker starts, then every minute,
  and one as it shuts down): a worker whose heartbeats on the queue all say shutting down or shut down, and that
  has not polled since, is gone — at once, for a worker stopped gracefully;
- its poller's last access: a live worker is always polling, and the server answers an idle poll after a minute
  (`matching.longPollExpirationInterval`; measured on the dev server: an idle worker's last access was at most
  50 s old, every 10 s over 140 s), so a poller not seen for `SILENT_FOR` is gone too — a worker killed without a
  word, or a server or SDK without heartbeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError

from conveyor.operations import quote

LONG_POLL = timedelta(minutes=1)
"""How long the server holds an idle poll before answering it empty (its default): a live worker's last access is
never older than this plus the moment it takes to poll again."""
SILENT_FOR = 2 * LONG_POLL
"""A poller not seen for this long is gone."""
STOPPING = {WorkerStatus.WORKER_STATUS_SHUTTING_DOWN, WorkerStatus.WORKER_STATUS_SHUTDOWN}
TASK_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def live_workers(client: Client, namespace: str, queues: Iterable[str]) -> dict[str, int]:
    """The workers (by identity) serving each of `queues` now: polling it lately, and not stopped."""
    names = list(queues)
    found = await asyncio.gather(*(_live_on(client, namespace, q) for q in names))
    return dict(zip(names, found, strict=True))


async def _live_on(client: Client, namespace: str, queue: str) -> int:
    service = client.workflow_service
    seen: dict[str, datetime] = {}
    for task_type in TASK_TYPES:
        request = DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=task_type
        )
        for poller in (await service.describe_task_queue(request)).pollers:
            at = poller.last_access_time.ToDatetime(tzinfo=UTC)
            seen[poller.identity] = max(at, seen.get(poller.identity, at))
    if not seen:
        return 0
    recent = datetime.now(UTC) - SILENT_FOR
    stopped = await stopped_on(client, namespace, queue)
    return sum(1 for identity, at in seen.items() if at > max(recent, stopped.get(identity, recent)))


async def stopped_on(client: Client, namespace: str, queue: str) -> dict[str, datetime]:
    """When each identity whose every worker heartbeat on `queue` says it is shutting down or shut down said so last
    (none on a server without worker heartbeats). One identity may be several workers over time (a restart in the
    same process, whose first heartbeat comes a minute after its start): one running heartbeat, or a poll after
    the stop, keeps it live."""
    request = ListWorkersRequest(namespace=namespace, page_size=1000, query=f"TaskQueue = {quote(queue)}")
    try:
        reply = await client.workflow_service.list_workers(request)
    except RPCError:  # an older server, or worker listing turned off: the pollers' last access decides alone
        return {}
    running: set[str] = set()
    stopped: dict[str, datetime] = {}
    for info in reply.workers_info:
        beat = info.worker_heartbeat
        if beat.status not in STOPPING:
            running.add(beat.worker_identity)
            continue
        at = beat.heartbeat_time.ToDatetime(tzinfo=UTC)
        stopped[beat.worker_identity] = max(at, stopped.get(beat.worker_identity, at))
    return {identity: at for identity, at in stopped.items() if identity not in running}
