"""Every knob Conveyor has, read from `CONVEYOR_*` environment variables or a `.env` file.

The defaults are the embedded stack that `conveyor dev` runs on this machine, so a fresh checkout needs no
configuration; production sets the Temporal address, SMTP server and storage. Secrets are `SecretStr`: their
`repr` and `str` print `**********`, so a settings object can be logged or shown in an error safely. An empty
variable (`CONVEYOR_TEMPORAL_API_KEY=` in a `.env` or a compose file) counts as unset, not as an empty secret.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.broadcast import CONTINUE_EVERY
from contracts.config import AwsConfig, SmtpConfig, SmtpTls
from contracts.errors import describe_errors
from contracts.input_checks import MAX_DELAY, TENANT_PATTERN
from contracts.kinds import DEFAULT_QUEUE, IMAGES_QUEUE, REPORTS_QUEUE, SMS_QUEUE
from contracts.render_limits import RenderLimits
from contracts.report import ATTACH_MAX_BYTES
from contracts.webhook import ENDPOINT_NAME, WebhookEndpoint
from contracts.webhook_url import webhook_url_problem
from contracts.welcome import FOLLOW_UP_AFTER


class DevStackRecord(BaseModel):
    """What a running `conveyor dev` writes under its home: where its web UI really is, for the Temporal address it
    serves. Commands started elsewhere with other settings (a second terminal) read it for their job links."""

    temporal_address: str
    web_ui: str

    @classmethod
    def read(cls, path: Path) -> DevStackRecord | None:
        """The record at `path`; None when there is none (no stack ran here) or it is not one."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None


class SmsProviderName(StrEnum):
    """Where text messages go."""

    OUTBOX = "outbox"  # a JSON-lines file under `home`: nothing leaves the machine
    SNS = "sns"


class StorageBackend(StrEnum):
    """Where reports are stored."""

    LOCAL = "local"  # a directory under `home`
    S3 = "s3"


class LogFormat(StrEnum):
    """How the long-running commands write their log lines."""

    TEXT = "text"  # one human-readable line per event
    JSON = "json"  # one JSON object per line, for log shippers


class Settings(BaseSettings):
    """Conveyor's configuration. Field names map to `CONVEYOR_<NAME>` (e.g. `CONVEYOR_SMTP_HOST`)."""

    # `hide_input_in_errors`: a refused setting may be a secret, and pydantic quotes the input in its errors.
    model_config = SettingsConfigDict(
        env_prefix="CONVEYOR_", env_file=".env", extra="ignore", env_ignore_empty=True, hide_input_in_errors=True
    )

    # Temporal
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    namespace: str = Field("default", description="Temporal namespace the jobs live in.")
    task_queue: str = Field("conveyor", description="Task queue of the email job and the default queue.")
    temporal_api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud); implies TLS.")
    temporal_tls: bool = Field(False, description="Use TLS to reach Temporal (on with a cert or API key).")
    temporal_tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mTLS.")
    temporal_tls_key: Path | None = Field(None, description="Client private key (PEM) for mTLS.")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle to verify the server; system CAs if unset.")
    search_attributes: bool = Field(
        True,
        description="Tag workflow-shaped jobs with the JobKey/Recipients search attributes (registered by "
        "`conveyor dev`/`setup`). Email and SMS jobs carry none, so the web UI can re-run them in one click.",
    )
    ui_url: str | None = Field(
        None,
        description="Temporal web UI base URL for job links; default: the UI of the `conveyor dev` running here "
        "(recorded in CONVEYOR_HOME), else the dev UI port next to the Temporal address.",
    )

    # SMTP
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, description="SMTP server port (`conveyor dev` runs its outbox here).")
    smtp_tls: SmtpTls = Field(SmtpTls.NONE, description="`none`, `starttls`, or `implicit` (TLS from the first byte).")
    smtp_username: str | None = Field(None, description="SMTP AUTH user name.")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    smtp_timeout: float = Field(30.0, description="Seconds for connecting and for each SMTP command.")
    smtp_ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server; system CAs if unset.")
    mail_from: str = Field("Conveyor <noreply@conveyor.localhost>", description="From header of every email.")
    templates_dir: Path = Field(
        Path("templates"), description="Your email templates; each overrides a built-in of the same name."
    )

    smtp_pool_size: int = Field(
        10,
        ge=1,
        description="SMTP connections a worker keeps open and reuses: up to this many for email jobs, as many again "
        "for broadcasts.",
    )

    # Templates come from producers: what one render may cost (see `activities.sandbox`)
    render_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Longest one message's render may take; over it, it fails as TemplateError."
    )
    render_max_bytes: int = Field(
        1_000_000, ge=1000, description="Largest rendered message, and largest string a template may build."
    )
    render_max_memory_mb: int = Field(
        512, ge=128, description="Address space of a render process while it renders (MB); past it, TemplateError."
    )

    # Failure alerts
    ops_email: str | None = Field(None, description="Where failure alerts (and ops reports) are emailed.")
    alert_webhook_url: SecretStr | None = Field(
        None, description="Slack-compatible webhook URL that failure alerts are POSTed to (a secret)."
    )

    alert_webhook_allow_internal: bool = Field(
        False, description="Let the alert webhook URL be a loopback, private or link-local address."
    )

    # Webhook endpoints (the `webhook` job): declared by name; a job names one
    webhook_endpoints: dict[str, WebhookEndpoint] = Field(
        default_factory=dict,
        description='Endpoints as JSON: {"acme": {"url": "https://...", "secrets": ["whsec_..."], "events": [...]}}.',
    )
    webhook_endpoints_file: Path | None = Field(
        None, description="A TOML file declaring endpoints, one `[name]` table each (merged with the above)."
    )

    # AWS (SNS for SMS, S3 for reports): credentials default to boto3's chain (environment, instance role)
    aws_region: str = Field("us-east-1", description="AWS region of SNS and S3.")
    aws_access_key_id: str | None = Field(None, description="AWS access key id; boto3's default chain if unset.")
    aws_secret_access_key: SecretStr | None = Field(None, description="AWS secret access key.")

    # SMS
    sms_task_queue: str = Field("conveyor-sms", description="Task queue of the SMS job (rate-limited).")
    sms_provider: SmsProviderName = Field(
        SmsProviderName.OUTBOX, description="`outbox` (appends to `<home>/sms.jsonl`) or `sns` (AWS SNS)."
    )
    sms_rate_per_second: float = Field(
        20.0, description="Most SMS sent per second across all workers (the provider's limit).", gt=0
    )
    sms_type: str = Field("Transactional", description="SNS SMS type: `Transactional` or `Promotional`.")
    sns_endpoint_url: str | None = Field(None, description="SNS endpoint (a compatible service or moto); AWS if unset.")

    # Reports
    reports_task_queue: str = Field("conveyor-reports", description="Task queue of the report job (rendering).")
    report_concurrency: int = Field(2, description="Reports one worker renders at once (threads).", ge=1)
    report_attach_max_bytes: int = Field(
        ATTACH_MAX_BYTES, description="Reports up to this size are emailed as attachments; larger ones as a link."
    )
    report_link_expiry_seconds: int = Field(
        7 * 86400, description="How long a report's download link works (S3 presigned; at most 7 days).", gt=0
    )
    storage: StorageBackend = Field(
        StorageBackend.LOCAL, description="Where reports are stored: `local` (`<home>/reports/`) or `s3`."
    )
    s3_bucket: str = Field("conveyor-reports", description="S3 bucket of stored reports.")
    s3_prefix: str = Field("reports", description="Key prefix of stored reports in the bucket.")
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint (MinIO, moto); AWS if unset.")
    s3_access_key_id: str | None = Field(
        None, description="S3's own access key id (e.g. MinIO for reports, AWS for SNS); default: the AWS one."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="S3's own secret access key, with `s3_access_key_id`; default: the AWS one."
    )

    # Images (see docs/jobs/image.md)
    images_task_queue: str = Field("conveyor-images", description="Task queue of the image jobs (libvips, CPU).")
    image_concurrency: int = Field(
        2,
        ge=1,
        description="Images one worker decodes at once; libvips gets the machine's cores divided by it as threads.",
    )
    image_max_bytes: int = Field(
        50_000_000, ge=1000, description="Largest source file an image job reads; larger ones fail as ImageRejected."
    )
    image_max_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Most pixels (width x height, read from the header before decoding) a source may declare; more "
        "fails as ImageRejected (decompression bombs).",
    )

    # Files jobs read
    data_dir: Path | None = Field(
        None,
        description="The only directory whose files `csv:` recipients and the `csv-file` report read (paths "
        "relative to it, or inside it); default `<home>/data`.",
    )

    # Databases SQL reports read, by name; URLs are secrets (they may hold passwords)
    databases: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Databases as JSON: {"shop": "sqlite:////srv/shop.db", "crm": '
        '"postgresql+psycopg://reports:PASSWORD@db:5432/crm"}; `example` defaults to the example database '
        "`conveyor dev` creates (`<home>/example.sqlite`).",
    )

    # Periodic jobs, broadcasts, events
    retention_days: int = Field(30, ge=1, description="The weekly cleanup deletes reports and outbox files older.")
    broadcast_continue_every: int = Field(
        CONTINUE_EVERY, ge=1, description="A broadcast starts a fresh run (continue-as-new) after this many recipients."
    )
    welcome_follow_up_after: timedelta = Field(
        FOLLOW_UP_AFTER,
        gt=timedelta(0),
        le=MAX_DELAY,
        description="Welcome flow: follow up unless user.activated came within this (e.g. P3D).",
    )
    standalone_activities: bool | None = Field(
        None,
        description="Run single-step kinds (email, SMS) as standalone activities. Unset (the default): ask the "
        "server once, and run them as workflows, with a warning, on one without them (before 1.31, turned off, the "
        "time-skipping test server); true: always (a server without them refuses the jobs); false: as workflows.",
    )
    stats_window: timedelta = Field(
        timedelta(hours=24), gt=timedelta(0), description="`stats` counts jobs that closed within this (e.g. PT24H)."
    )
    stats_open_limit: int = Field(
        100,
        ge=1,
        description="`stats` tells apart as queued, running or retrying (one describe each) at most this many open "
        "jobs per kind and queue, and `list --state` looks at this many: the rest are counted, not told apart.",
    )
    recipient_scan_limit: int = Field(
        1000,
        ge=1,
        description="`list --recipient` reads the input of (one describe each) at most this many of the newest email "
        "and SMS jobs matching its other filters.",
    )

    # Tenants (see docs/tenants.md): applied to the task queues by `conveyor setup` and `conveyor dev`
    tenant_weights: dict[str, float] = Field(
        default_factory=dict,
        description='Fairness weight per tenant as JSON, e.g. {"acme": 4, "free-tier": 0.5}: a tenant\'s share of '
        "dispatch against the others (default 1; a job's own `tenant_weight` wins).",
    )
    tenant_rps_limit: float | None = Field(
        None,
        gt=0,
        description="Most jobs per second (activity tasks) dispatched for any one tenant, times its weight; none if "
        "unset. Temporal enforces it per task queue.",
    )

    # Worker
    max_concurrent_activities: int = Field(200, description="Activities one worker runs at once.")
    max_concurrent_workflow_tasks: int | None = Field(
        None, description="Workflow tasks one worker runs at once (the SDK's default if unset)."
    )
    email_max_per_second: float | None = Field(
        None, description="Cap on emails per second across all workers of the email queue (none if unset)."
    )
    graceful_shutdown_seconds: float = Field(30.0, description="On SIGTERM, time given to running activities.")

    # HTTP API
    api_host: str = Field("127.0.0.1", description="Interface `conveyor api` listens on (0.0.0.0 in containers).")
    api_port: int = Field(8000, description="Port of `conveyor api` (and of the API under `conveyor dev`).")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated keys the API accepts as `Authorization: Bearer <key>` (secrets).",
    )
    api_max_body_bytes: int = Field(
        2_000_000, description="Largest request body the API reads; larger ones get 413.", gt=0
    )

    # Observability
    metrics_host: str = Field(
        "127.0.0.1", description="Interface the Prometheus endpoint and the worker's health check listen on."
    )
    metrics_port: int = Field(
        9000, description="Port of the Prometheus `/metrics` of `conveyor worker`/`api`/`dev`; 0 turns it off."
    )
    health_port: int = Field(
        9010,
        description="Port of the worker's `/healthz` (`conveyor worker`/`dev`): 503 while its event loop is "
        "blocked; 0 turns it off.",
    )
    health_max_lag_seconds: float = Field(
        5.0,
        gt=0,
        description="How long the worker's event loop may go without turning before `/healthz` fails (half the "
        "10 s heartbeat time-out of the sends).",
    )
    log_format: LogFormat = Field(LogFormat.TEXT, description="`text` (human-readable) or `json` (one per line).")
    log_level: str = Field("INFO", description="Level of the long-running commands' logs: DEBUG, INFO, WARNING.")
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); tracing off if unset."
    )
    otel_service_name: str = Field("conveyor", description="`service.name` of the traces Conveyor exports.")

    # Local development stack
    home: Path = Field(Path(".conveyor"), description="Where `conveyor dev` keeps its database and outboxes.")
    dev_ui_port: int = Field(8233, description="Port of the Temporal web UI under `conveyor dev`.")
    dev_fairness: bool = Field(
        True,
        description="`conveyor dev` runs Temporal with task-queue fairness (each tenant's backlog in turn); false: "
        "first come, first served, the server's default.",
    )
    dev_outbox: bool = Field(
        True, description="`conveyor dev` runs its SMTP outbox; false: it uses the SMTP server set above."
    )

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A webhook URL that cannot be POSTed to is refused at load (`conveyor doctor` names the variable),
        not when the first job fails; the message never quotes it (it is a secret)."""
        problem = webhook_url_problem(value.get_secret_value()) if value is not None else None
        if problem is not None:
            raise ValueError(f"the alert webhook URL {problem}")
        return value

    @field_validator("tenant_weights")
    @classmethod
    def _tenant_weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [t for t, w in value.items() if not re.fullmatch(TENANT_PATTERN, t) or not 0.001 <= w <= 1000]
        if bad:
            raise ValueError(f"tenants {bad}: 1-64 of letters, digits and -_.:@+=, each weighted 0.001 to 1000")
        return value

    @field_validator("webhook_endpoints")
    @classmethod
    def _endpoint_names(cls, value: dict[str, WebhookEndpoint]) -> dict[str, WebhookEndpoint]:
        bad = [name for name in value if not re.fullmatch(ENDPOINT_NAME, name)]
        if bad:
            raise ValueError(f"endpoint names {bad} must be lower-case letters, digits, '_' and '-'")
        return value

    def endpoints(self) -> dict[str, WebhookEndpoint]:
        """Every declared webhook endpoint by name: `webhook_endpoints` and those of `webhook_endpoints_file`
        (read once; a name in both is an error). `ValueError` naming the endpoint and field at fault, never a
        secret."""
        if self._endpoints is None:
            found = dict(self.webhook_endpoints)
            path = self.webhook_endpoints_file
            if path is not None:
                for name, data in _endpoints_file(path).items():
                    if name in found or not re.fullmatch(ENDPOINT_NAME, name):
                        raise ValueError(f"endpoint {name!r} in {path}: declared twice, or a bad name")
                    try:
                        found[name] = WebhookEndpoint.model_validate(data)
                    except ValidationError as e:
                        raise ValueError(f"endpoint {name!r} in {path}: {describe_errors(e)}") from None
            self._endpoints = found
        return self._endpoints

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """`CONVEYOR_API_KEYS=key1,key2`: a key per item, blanks dropped (a list is taken as it is)."""
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    def as_env(self) -> dict[str, str]:
        """Every setting as the `CONVEYOR_*` variable that gives it back (secrets in clear, lists comma-joined):
        how a child process (`conveyor dev`'s API) gets exactly these settings, whatever built them."""
        env: dict[str, str] = {}
        plain = self.model_dump(mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "tenant_weights":
                text = json.dumps(value)
            elif name == "webhook_endpoints":
                text = json.dumps({k: v.revealed() for k, v in value.items()})
            elif name == "databases":
                text = json.dumps({k: v.get_secret_value() for k, v in value.items()})
            elif isinstance(value, list):
                text = ",".join(v.get_secret_value() if isinstance(v, SecretStr) else str(v) for v in value)
            elif isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(plain[name])
            env[f"CONVEYOR_{name.upper()}"] = text
        return env

    _endpoints: dict[str, WebhookEndpoint] | None = PrivateAttr(None)

    def render_limits(self) -> RenderLimits:
        """What one render of a template may spend."""
        return RenderLimits(
            timeout=self.render_timeout_seconds,
            max_bytes=self.render_max_bytes,
            max_memory=self.render_max_memory_mb * 2**20,
        )

    def smtp_config(self) -> SmtpConfig:
        """How the email activities reach the SMTP server."""
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            tls=self.smtp_tls,
            username=self.smtp_username,
            password=self.smtp_password,
            timeout=self.smtp_timeout,
            ca_file=self.smtp_ca_file,
        )

    def aws_config(self, endpoint_url: str | None) -> AwsConfig:
        """How an AWS client reaches `endpoint_url` (None: AWS itself) with the configured credentials."""
        return AwsConfig(
            region=self.aws_region,
            endpoint_url=endpoint_url,
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
        )

    def s3_aws_config(self) -> AwsConfig:
        """How report storage reaches S3: its endpoint, with S3's own keys when set, else the AWS ones."""
        config = self.aws_config(self.s3_endpoint_url)
        if self.s3_access_key_id is None:
            return config
        return replace(config, access_key_id=self.s3_access_key_id, secret_access_key=self.s3_secret_access_key)

    @property
    def queues(self) -> dict[str, str]:
        """The task queue of each role a job kind may name (`contracts.kinds`): default, sms, reports, images."""
        return {
            DEFAULT_QUEUE: self.task_queue,
            SMS_QUEUE: self.sms_task_queue,
            REPORTS_QUEUE: self.reports_task_queue,
            IMAGES_QUEUE: self.images_task_queue,
        }

    @property
    def dev_web_ui(self) -> str:
        """The web UI `conveyor dev` serves with these settings: next to the Temporal address, on `dev_ui_port`."""
        return f"http://{self.temporal_address.rpartition(':')[0]}:{self.dev_ui_port}"

    @property
    def dev_stack_file(self) -> Path:
        """Where a running `conveyor dev` says where it serves (`DevStackRecord`), for commands run beside it."""
        return self.home / "dev-stack.json"

    @property
    def web_ui(self) -> str:
        """The web UI's base URL for job links: `ui_url` when set; else the UI of the `conveyor dev` running for
        this Temporal address from this directory (it recorded where: a terminal that exported only the Temporal
        address still links to the moved UI port); else where `conveyor dev` would serve it."""
        if self.ui_url:
            return self.ui_url
        recorded = DevStackRecord.read(self.dev_stack_file)
        if recorded is not None and recorded.temporal_address == self.temporal_address:
            return recorded.web_ui
        return self.dev_web_ui

    @property
    def outbox_dir(self) -> Path:
        """Where the dev SMTP server writes each message as `<job-id>.eml`."""
        return self.home / "outbox"

    @property
    def sms_outbox(self) -> Path:
        """Where the `outbox` SMS provider appends each message as a JSON line."""
        return self.home / "sms.jsonl"

    @property
    def readable_dir(self) -> Path:
        """The data directory: `data_dir`, or `<home>/data`."""
        return self.data_dir or self.home / "data"

    @property
    def example_database(self) -> Path:
        """The example SQLite database `conveyor dev` creates for the `sales-by-day` report."""
        return self.home / "example.sqlite"

    @property
    def database_urls(self) -> dict[str, SecretStr]:
        """The databases SQL reports read: `databases`, with `example` at the example database unless set."""
        return {"example": SecretStr(f"sqlite:///{self.example_database.absolute()}"), **self.databases}

    @property
    def reports_dir(self) -> Path:
        """Where `local` storage keeps reports."""
        return self.home / "reports"


def _endpoints_file(path: Path) -> dict[str, Any]:
    """The tables of an endpoints TOML file; `ValueError` when it cannot be read (never quoting its content)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"webhook endpoints file {path}: {type(e).__name__}") from None
    if not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"webhook endpoints file {path}: every endpoint is a [name] table")
    return data
