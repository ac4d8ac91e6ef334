"""The composition root: every activity built from settings, every workflow registered on its task queue."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.alerts import AlertChannels
from activities.broadcast import BroadcastActivities
from activities.broadcast_sms import SmsBroadcastActivities
from activities.cleanup import CleanupActivities
from activities.email import EmailActivities
from activities.failure_watch import FailureWatch
from activities.flow_gate import FlowGates
from activities.image import ImageActivities
from activities.image_listing import ImageListing
from activities.image_types import Limits
from activities.render import TemplateRenderer
from activities.report import ReportActivities
from activities.s3 import S3Storage
from activities.sms import SmsActivities
from activities.sms_providers import OutboxProvider, SmsProvider, SnsProvider
from activities.smtp import SmtpPool
from activities.storage import LocalStorage, Storage
from activities.team_jobs import job_activity
from activities.webhook import WebhookActivities
from contracts.kinds import KINDS, Shape
from conveyor.endpoints import EndpointSwitch
from conveyor.settings import Settings, SmsProviderName, StorageBackend
from conveyor.status import ui_link
from worker.flow_slots import FlowSlots
from worker.last_attempt import LastAttemptAlerts
from worker.metrics import JobMetrics
from worker.queue_guard import QueueGuard, activity_name, misrouted_jobs
from workflows.broadcast import Broadcast
from workflows.cleanup import Cleanup
from workflows.email import SendEmail
from workflows.failure_watcher import FailureWatcher
from workflows.flow_gate import FlowGate
from workflows.image_batch import ImageBatch
from workflows.one_step import OneStepJob
from workflows.policies import POLICIES
from workflows.report import GenerateReport
from workflows.sms import SendSms
from workflows.webhook_endpoint import WebhookEndpointDisabled
from workflows.welcome import Welcome

WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    # Validation libraries the job models use: deterministic, so loaded once instead of per workflow run; and
    # OpenTelemetry, whose tracing interceptor runs in workflows when tracing is on (its global state must be
    # the process's, not a copy per workflow).
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "pydantic", "email_validator", "idna", "phonenumbers", "jinja2", "markupsafe", "opentelemetry"
    )
)


def workflow_runner(team_workflows: Collection[type]) -> SandboxedWorkflowRunner:
    """`WORKFLOW_RUNNER`, with the modules of a team's workflows passed through: such a module also holds its
    `@job` functions (which register their kinds once, when it is first imported) and whatever they import, so
    the sandbox uses the worker's copy of it instead of importing it again for every workflow run. The workflow
    code in it is still deterministic by the workflow's own rules (no I/O, `workflow.now()`, `workflow.sleep`)."""
    modules = sorted({w.__module__ for w in team_workflows})
    if not modules:
        return WORKFLOW_RUNNER
    return SandboxedWorkflowRunner(restrictions=WORKFLOW_RUNNER.restrictions.with_passthrough_modules(*modules))


WORKFLOWS = [
    SendEmail,
    SendSms,
    GenerateReport,
    Broadcast,
    Cleanup,
    Welcome,
    FailureWatcher,
    ImageBatch,
    WebhookEndpointDisabled,
    FlowGate,
]
"""Every workflow Conveyor runs; the replay tests replay recorded histories against exactly these."""


def storage(settings: Settings) -> Storage:
    """Where reports (and attachments by key) are stored: S3 or the local directory."""
    if settings.storage is StorageBackend.S3:
        return S3Storage(
            settings.s3_aws_config(),
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            link_expiry_seconds=settings.report_link_expiry_seconds,
        )
    return LocalStorage(settings.reports_dir)


def sms_provider(settings: Settings) -> SmsProvider:
    """The SMS provider in `settings`: SNS, or the local outbox file."""
    if settings.sms_provider is SmsProviderName.SNS:
        return SnsProvider(settings.aws_config(settings.sns_endpoint_url), sms_type=settings.sms_type)
    return OutboxProvider(settings.sms_outbox)


def email_activities(settings: Settings, files: Storage | None = None) -> EmailActivities:
    """The email activities, talking to the SMTP server in `settings`; attachments by key come from `files`."""
    return EmailActivities(
        smtp_config=settings.smtp_config(),
        mail_from=settings.mail_from,
        renderer=TemplateRenderer(settings.templates_dir, settings.render_limits()),
        storage=files or storage(settings),
        pool_size=settings.smtp_pool_size,
    )


def alert_channels(settings: Settings) -> AlertChannels:
    """Failure alerts by email to `ops_email` and/or to the webhook, with links into the web UI."""
    return AlertChannels(
        smtp_config=settings.smtp_config(),
        mail_from=settings.mail_from,
        ops_email=settings.ops_email,
        webhook_url=settings.alert_webhook_url,
        job_link=lambda alert: ui_link(settings.web_ui, settings.namespace, alert.job_id, alert.shape, alert.run_id),
        webhook_allow_internal=settings.alert_webhook_allow_internal,
    )


ENDPOINT_STATE_FRESH_FOR = 5.0
"""Seconds a worker reuses an endpoint's "enabled" answer: one describe per endpoint per 5 s, not per delivery; a
delivery to an endpoint disabled meanwhile by another worker (or an operator) can go out within that time."""


def webhook_activities(client: Client, settings: Settings) -> WebhookActivities:
    """Webhook deliveries to the endpoints in `settings`, on the `webhook` row's retry schedule, with the
    endpoints' disabled state shared through Temporal."""
    return WebhookActivities(
        settings.endpoints(),
        POLICIES["webhook"].retry_schedule,
        EndpointSwitch(client, settings.task_queue, fresh_for=ENDPOINT_STATE_FRESH_FOR),
    )


def failure_watch(client: Client) -> FailureWatch:
    """The failure watcher's activity: the registry's activity-shaped jobs (a team's own kinds included), alerted
    with the `alert` policy row."""
    watched = {t: kind.name for t in KINDS.types(Shape.ACTIVITY) if (kind := KINDS.of_type(t)) is not None}
    row = POLICIES["alert"]
    return FailureWatch(client, watched, row.attempt_timeout, row.retry_policy())


def build_workers(client: Client, settings: Settings, queues: Collection[str] | None = None) -> list[Worker]:
    """One worker per task queue (of `queues` only, when given: `conveyor worker --queues`), all in this process.

    Every worker registers every workflow (workflow tasks are cheap); activities are split by queue: email on the
    default queue, SMS (single texts and SMS broadcasts) on its rate-limited queue, rendering on the reports queue
    with its own slots and threads, images likewise on theirs (libvips), so a burst of reports or images never takes
    the slots email and SMS need. Each queue
    also runs `send_alert`, because a failing job runs its alert on its own queue.
    """
    files = storage(settings)
    alerts = alert_channels(settings)
    email = email_activities(settings, files)
    pool = SmtpPool(settings.smtp_config(), settings.smtp_pool_size)
    broadcast = BroadcastActivities(email, pool, settings.readable_dir)
    cleanup = CleanupActivities(files, settings.outbox_dir, settings.retention_days)
    sms = SmsActivities(sms_provider(settings), rate_per_second=settings.sms_rate_per_second)
    sms_broadcast = SmsBroadcastActivities(sms, settings.render_limits())
    reports = ReportActivities(
        files,
        email_task_queue=settings.task_queue,
        data_dir=settings.readable_dir,
        attach_max_bytes=settings.report_attach_max_bytes,
        concurrency=settings.report_concurrency,
        client=client,
        workflow_types=[w.__temporal_workflow_definition.name for w in WORKFLOWS],  # type: ignore[attr-defined]
        activity_types=KINDS.types(Shape.ACTIVITY),
        databases=settings.database_urls,
    )
    images = ImageActivities(
        files,
        data_dir=settings.readable_dir,
        limits=Limits(max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels),
        concurrency=settings.image_concurrency,
    )
    listing = ImageListing(files, settings.readable_dir)
    sms_label = settings.sms_provider.value
    metrics = JobMetrics({"email": "smtp", "send_email": "smtp", "sms": sms_label, "send_sms": sms_label})
    extra_workflows, extra_activities = hosted_kinds(settings)
    failures = failure_watch(client)
    webhooks = webhook_activities(client, settings)
    common: dict[str, Any] = {
        "workflows": [*WORKFLOWS, OneStepJob, *extra_workflows],
        "interceptors": [QueueGuard(settings.queues), metrics, LastAttemptAlerts(POLICIES["alert"]), FlowSlots()],
        "workflow_runner": workflow_runner(extra_workflows),
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
        "graceful_shutdown_timeout": timedelta(seconds=settings.graceful_shutdown_seconds),
    }
    per_queue: dict[str, dict[str, Any]] = {
        settings.task_queue: {
            "activities": [
                email.email,
                email.send_email,
                webhooks.webhook,
                alerts.send_alert,
                broadcast.list_recipients,
                broadcast.send_batch,
                cleanup.purge_reports,
                cleanup.purge_outbox,
                failures.alert_failed_jobs,
            ],
            "max_concurrent_activities": settings.max_concurrent_activities,
            "max_task_queue_activities_per_second": settings.email_max_per_second,
            # A broadcast batch's heartbeat (who was sent to) reaches the server every second, so a batch retried
            # after its worker died re-sends at most about a second's worth of messages (default: 8 s).
            "max_heartbeat_throttle_interval": timedelta(seconds=1),
        },
        settings.sms_task_queue: {
            # SMS broadcasts run here too, so their texts share the SMS pacer and provider.
            "activities": [
                sms.sms,
                sms.send_sms,
                alerts.send_alert,
                broadcast.list_recipients,
                sms_broadcast.send_sms_batch,
            ],
            "max_concurrent_activities": settings.max_concurrent_activities,
            "max_task_queue_activities_per_second": settings.sms_rate_per_second,
            "max_heartbeat_throttle_interval": timedelta(seconds=1),  # as on the email queue: batches' progress
        },
        settings.reports_task_queue: {
            "activities": [reports.render_report, alerts.send_alert],
            "max_concurrent_activities": settings.report_concurrency,
            # Heartbeats reach the server every second (the default waits 80% of the heartbeat timeout, 8 s), so
            # `conveyor status` shows a render's progress as it goes. One small RPC a second per running render.
            "max_heartbeat_throttle_interval": timedelta(seconds=1),
        },
        settings.images_task_queue: {
            "activities": [images.image, images.make_image, listing.list_images, alerts.send_alert],
            "max_concurrent_activities": settings.image_concurrency,  # as many as its pool has threads
            "max_heartbeat_throttle_interval": timedelta(seconds=1),  # as on the reports queue: progress shows
        },
    }
    for queue, activities in extra_activities.items():
        options = per_queue.setdefault(queue, {"max_concurrent_activities": settings.max_concurrent_activities})
        options["activities"] = [*options.get("activities", [alerts.send_alert]), *activities]
    gates = FlowGates(client, settings.task_queue)
    for options in per_queue.values():  # a limited job enters its gate as a local activity, on any queue
        options["activities"] = [*options["activities"], gates.enter]
    return [
        Worker(client, task_queue=queue, **(options | {"activities": with_catch_all(options, settings)}), **common)
        for queue, options in per_queue.items()
        if queues is None or queue in queues
    ]


def with_catch_all(options: dict[str, Any], settings: Settings) -> list[Callable[..., Any]]:
    """A queue's activities and the dynamic one that fails any other type it is asked for (`misrouted_jobs`)."""
    activities: list[Callable[..., Any]] = options["activities"]
    return [*activities, misrouted_jobs(settings.queues, [activity_name(fn) for fn in activities])]


def hosted_kinds(settings: Settings) -> tuple[list[type], dict[str, list[Callable[..., Any]]]]:
    """What the job kinds defined outside Conveyor (`contracts.kinds.load_plugins`, `@job` functions) bring: their
    workflows, hosted by every worker, and their activities, by the task queue of their kind (its own queue gets a
    worker too). Plain `@job` functions share one thread pool, as wide as a queue's concurrent activities."""
    workflows: list[type] = []
    activities: dict[str, list[Callable[..., Any]]] = {}
    threads: ThreadPoolExecutor | None = None
    for kind in KINDS.values():
        queues = kind.hosting_queues(settings.queues, settings.task_queue)
        if kind.function is not None:  # a @job function: the one generic wrapper runs it
            if threads is None:
                threads = ThreadPoolExecutor(settings.max_concurrent_activities, thread_name_prefix="conveyor-job")
            run = job_activity(kind, threads)
            for queue in queues:
                activities.setdefault(queue, []).append(run)
        if kind.workflow is not None:  # a @job.workflow class
            workflows.append(kind.workflow)
        if kind.hosted is None:
            continue
        module, _, name = kind.hosted.partition(":")
        kind_workflows, kind_activities = getattr(importlib.import_module(module), name)(settings)
        workflows += kind_workflows
        for queue in queues:
            activities.setdefault(queue, []).extend(kind_activities)
    return workflows, activities


def served_queues(settings: Settings) -> list[str]:
    """Every task queue a Conveyor worker serves: email (the default queue), SMS, reports, and the queues of job
    kinds defined outside Conveyor."""
    built_in = list(settings.queues.values())
    own = [
        queue
        for kind in KINDS.values()
        if (kind.hosted, kind.function, kind.workflow) != (None, None, None)
        for queue in kind.hosting_queues(settings.queues, settings.task_queue)
    ]
    return list(dict.fromkeys([*built_in, *own]))
