"""`conveyor doctor`: is this configuration ready to run jobs? One line per check, and what to fix when one fails.

Each check is a small async function of a `Probe` (the settings, plus a Temporal client made at most once) that
returns what it found, or raises `Problem(detail, fix)`. A new check is one function and one entry in `CHECKS`.
Nothing here prints a secret: details name settings and servers' replies only (never an AWS key, not even its id).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.aws import aws_client as boto_client
from activities.render import BUILTIN_TEMPLATES, TemplateRenderer
from contracts.config import AwsConfig, SmtpTls
from contracts.errors import JobError
from contracts.kinds import KINDS
from conveyor import search_attributes
from conveyor.connection import WITHOUT_STANDALONE_ACTIVITIES, connect
from conveyor.errors import TemporalUnavailable
from conveyor.settings import Settings, SmsProviderName, StorageBackend

CHECK_TIMEOUT = 20.0
"""Seconds one check may take: a firewall that drops packets must not make the doctor hang."""

AWS_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 5}
"""botocore's own time-outs (60 s by default) for the doctor's AWS calls: a boto3 call runs in a thread that
`CHECK_TIMEOUT` cannot cancel, and the process waits for that thread before it exits."""

UNREACHABLE = (BotoCoreError, ResponseParserError)
"""boto3's failures before any AWS reply: no connection, no credentials, or an answer that is not AWS's (a proxy or
another service at the endpoint)."""

BAD_CREDENTIALS = {"InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"}
"""AWS error codes meaning the key pair itself was refused (S3 says the first, SNS the others)."""


class Problem(Exception):
    """A check failed: what was found, and what to change."""

    def __init__(self, detail: str, fix: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class Degraded(Problem):
    """A check found something that works, but less well than it could: a warning line (`!`) that does not fail
    the doctor's run (e.g. no standalone activities: email and SMS fall back to running as workflows)."""


@dataclass(frozen=True)
class Result:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False
    """Works, with a caveat (`Degraded`): ok, but shown as `!` with what would make it better."""

    def line(self) -> str:
        """`✓ name  detail`, `! name  detail -> fix: ...` (a warning), or `✗ name  detail -> fix: ...`."""
        mark = "✗" if not self.ok else "!" if self.warning else "✓"
        text = f"{mark} {self.name:<21} {self.detail}"
        return f"{text} -> fix: {self.fix}" if self.fix else text


class Probe:
    """What the checks share: the settings, and one Temporal connection made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._failed = False

    async def client(self) -> Client:
        """The client; the first failure is reported in full, later checks only say they could not run."""
        if self._failed:
            raise Problem("not checked: Temporal is unreachable (see above)")
        if self._client is None:
            try:
                self._client = await connect(self.settings)
            except TemporalUnavailable as e:
                self._failed = True
                where = f"cannot connect to {self.settings.temporal_address}"
                raise Problem(
                    f"{where}: {str(e.__cause__).splitlines()[0]}" if e.__cause__ else str(e),
                    "check CONVEYOR_TEMPORAL_ADDRESS; for a secured cluster CONVEYOR_TEMPORAL_API_KEY or "
                    "CONVEYOR_TEMPORAL_TLS_CERT/KEY",
                ) from None
        return self._client


Check = Callable[[Probe], Awaitable[str]]


async def temporal(probe: Probe) -> str:
    """The frontend answers and the namespace exists."""
    settings = probe.settings
    client = await probe.client()
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=settings.namespace))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Problem(
                f"namespace {settings.namespace!r} does not exist at {settings.temporal_address}",
                f"create it (`temporal operator namespace create {settings.namespace}`) or set CONVEYOR_NAMESPACE",
            ) from None
        if e.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            raise Problem(
                f"Temporal refused us: {e.message}",
                "check CONVEYOR_TEMPORAL_API_KEY or the mTLS certificate, and its access to the namespace",
            ) from None
        raise
    return f"{settings.temporal_address}, namespace {settings.namespace}"


async def search_attributes_present(probe: Probe) -> str:
    """Conveyor's search attributes are registered, so enqueueing with them does not fail."""
    if not probe.settings.search_attributes:
        return "not used (CONVEYOR_SEARCH_ATTRIBUTES=false)"
    missing = await search_attributes.missing(await probe.client(), probe.settings.namespace)
    if missing:
        raise Problem(
            f"missing on namespace {probe.settings.namespace}: {', '.join(k.name for k in missing)}",
            "run `conveyor setup` once (or set CONVEYOR_SEARCH_ATTRIBUTES=false)",
        )
    return ", ".join(k.name for k in search_attributes.ALL)


async def standalone_activities(probe: Probe) -> str:
    """The server runs standalone activities (Temporal 1.31+, turned on), which Conveyor's single-step jobs (email,
    SMS) run as. Asked the cheapest way that needs them: a count of the namespace's standalone activities.

    Without them those jobs run as workflows (the producer asks the server the same way, unless
    `CONVEYOR_STANDALONE_ACTIVITIES` says): that works, at about twice the latency, so it is a warning. It is a
    failure only when nothing falls back: the setting is `true`, or the server refuses the call another way.
    """
    try:
        counted = await (await probe.client()).count_activities()
    except RPCError as e:
        if e.status == RPCStatusCode.UNIMPLEMENTED:
            detail = f"not supported by the server at {probe.settings.temporal_address} ({e.message})"
            fix = "upgrade to Temporal Server 1.31+ (the compose stack runs 1.32)"
        elif e.status in (
            RPCStatusCode.FAILED_PRECONDITION,
            RPCStatusCode.PERMISSION_DENIED,
            RPCStatusCode.INVALID_ARGUMENT,
        ):
            detail = f"turned off on namespace {probe.settings.namespace}: {e.message}"
            fix = (
                "on Temporal 1.31 set the flags in deploy/temporal/dynamicconfig.yaml (activity.enableStandalone, "
                "history.enableChasm, history.enableTransitionHistory); on Temporal Cloud, have them enabled on "
                "the namespace"
            )
        else:
            raise
        falls_back = probe.settings.standalone_activities is False or (
            probe.settings.standalone_activities is None and e.status in WITHOUT_STANDALONE_ACTIVITIES
        )
        if falls_back:
            raise Degraded(f"{detail}: email and SMS jobs run as workflows", fix) from None
        fix += "; or set CONVEYOR_STANDALONE_ACTIVITIES=false (email and SMS as workflows)"
        raise Problem(detail, fix) from None
    return f"supported ({counted.count} in namespace {probe.settings.namespace})"


def _is_tls_failure(error: BaseException) -> bool:
    """A failed handshake, whether aiosmtplib raised the `ssl` error or wrapped it."""
    return isinstance(error, ssl.SSLError) or isinstance(error.__cause__, ssl.SSLError) or "SSL" in str(error)


def _tls_fix(error: BaseException) -> str:
    """What to change when a TLS handshake fails."""
    if "CERTIFICATE_VERIFY_FAILED" in str(error) or "CERTIFICATE_VERIFY_FAILED" in str(error.__cause__):
        return "the server's certificate is not trusted: set CONVEYOR_SMTP_CA_FILE to the CA that signed it"
    return "check CONVEYOR_SMTP_TLS (starttls on 587, implicit on 465, none for a local relay)"


async def smtp(probe: Probe) -> str:
    """Connect, STARTTLS, AUTH and MAIL FROM the way the email activity will, then hang up without sending."""
    settings = probe.settings
    config = settings.smtp_config()
    where = f"{config.host}:{config.port}"
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.tls is SmtpTls.IMPLICIT,
        start_tls=False,  # done below, so a failure says which step failed
        tls_context=config.tls_context(),
        timeout=config.timeout,
    )
    done = ["connected" + (" over TLS" if config.tls is SmtpTls.IMPLICIT else "")]
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError) as e:
        fix = "check CONVEYOR_SMTP_HOST, CONVEYOR_SMTP_PORT and that the server is up"
        raise Problem(f"cannot connect to {where}: {e}", _tls_fix(e) if _is_tls_failure(e) else fix) from None
    try:
        if config.tls is SmtpTls.STARTTLS:
            try:
                await client.starttls(tls_context=config.tls_context())
            except (aiosmtplib.SMTPException, OSError) as e:
                raise Problem(f"{where}: STARTTLS failed: {e}", _tls_fix(e)) from None
            done.append("STARTTLS")
        if config.username:
            try:
                await client.login(config.username, config.password.get_secret_value() if config.password else "")
            except aiosmtplib.SMTPAuthenticationError as e:
                raise Problem(
                    f"{where}: AUTH as {config.username} refused: {e.code} {e.message}",
                    "check CONVEYOR_SMTP_USERNAME and CONVEYOR_SMTP_PASSWORD",
                ) from None
            except aiosmtplib.SMTPException as e:
                raise Problem(
                    f"{where}: AUTH not possible: {e}",
                    "most servers offer AUTH only after STARTTLS: set CONVEYOR_SMTP_TLS=starttls",
                ) from None
            done.append(f"AUTH as {config.username}")
        sender = parseaddr(settings.mail_from)[1]
        try:
            await client.mail(sender)
            await client.rset()
        except aiosmtplib.SMTPResponseException as e:
            raise Problem(
                f"{where}: sender {sender} refused: {e.code} {e.message}",
                "set CONVEYOR_MAIL_FROM to an address this login may send as"
                + ("" if config.username else ", or set CONVEYOR_SMTP_USERNAME/PASSWORD if the server needs AUTH"),
            ) from None
        done.append(f"sender {sender} accepted")
    finally:
        client.close()
    return f"{where}: " + ", ".join(done)


def readable_dir(directory: Path, fix: str) -> None:
    """`Problem` unless `directory` (which exists) is a directory this process can list and read."""
    if not directory.is_dir() or not os.access(directory, os.R_OK | os.X_OK):
        raise Problem(f"{directory} is not a readable directory", f"fix its permissions, or {fix}")


async def templates(probe: Probe) -> str:
    """Every template a job can name loads (subject, a body, valid syntax): the built-ins and those of your
    templates directory (readable, when it exists), yours overriding a built-in of the same name."""
    directory = probe.settings.templates_dir
    yours: set[str] = set()
    if directory.exists():
        readable_dir(directory, "point CONVEYOR_TEMPLATES_DIR at your templates")
        yours = {p.name for p in directory.iterdir() if p.is_dir()}
    built_in = {p.name for p in BUILTIN_TEMPLATES.iterdir() if p.is_dir()}
    renderer = TemplateRenderer(directory if yours else None)
    broken: list[str] = []
    for name in sorted(yours | built_in):
        try:
            renderer.check(name)
        except JobError as e:
            broken.append(str(e))
        except OSError as e:
            broken.append(f"template '{name}': {e.strerror}: {e.filename}")
    if broken:
        raise Problem(f"{directory}: " + "; ".join(broken), "fix those template files")
    overriding = len(yours & built_in)
    mine = f"{len(yours)} in {directory}" + (f" ({overriding} overriding a built-in)" if overriding else "")
    where = mine if directory.exists() else f"{directory} absent"
    return f"{len(yours | built_in)} template(s) load: {where}, {len(built_in - yours)} built-in"


def writable_dir(directory: Path, setting: str) -> str:
    """`directory` can be written, or will be created where that is possible (it is made on first use)."""
    existing = next(d for d in (directory, *directory.parents) if d.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise Problem(f"{existing} is not a writable directory", f"fix its permissions, or set {setting}")
    return str(directory) if existing == directory else f"{directory} (created on first use)"


def aws_code(error: ClientError) -> str:
    """The error code of an AWS reply (`NoSuchBucket`, `404`, `InvalidClientTokenId`...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def aws_client(aws: AwsConfig, service: str, **config: Any) -> Any:
    """A boto3 client as the activities build it (one attempt per call), with short time-outs."""
    return boto_client(aws, service, **AWS_TIMEOUTS, **config)


def aws_problem(error: Exception, where: str, endpoint_setting: str, keys_prefix: str = "CONVEYOR_AWS") -> Problem:
    """What to change when an AWS call failed: the endpoint and region if unreachable, else the keys."""
    keys = f"{keys_prefix}_ACCESS_KEY_ID and {keys_prefix}_SECRET_ACCESS_KEY"
    if isinstance(error, ClientError):
        code = aws_code(error)
        fix = f"check {keys}" if code in BAD_CREDENTIALS else f"check {keys} and their permissions"
        return Problem(f"{where} refused us: {code}: {error.response.get('Error', {}).get('Message', '')}", fix)
    if isinstance(error, NoCredentialsError):
        return Problem(f"{where}: no AWS credentials found", f"set {keys} (or give the host an AWS role)")
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return Problem(f"cannot reach {where}: {reason}", f"check {endpoint_setting} (empty: AWS) and CONVEYOR_AWS_REGION")


def s3_round_trip(probe: Probe) -> str:
    """HEAD the bucket, then put and delete a small object under the prefix: exists and writable (blocking)."""
    settings = probe.settings
    endpoint = settings.s3_endpoint_url
    where = f"S3 at {endpoint}" if endpoint else f"S3 in {settings.aws_region}"
    client = aws_client(settings.s3_aws_config(), "s3", s3={"addressing_style": "path"}, signature_version="s3v4")
    keys = "CONVEYOR_S3" if settings.s3_access_key_id else "CONVEYOR_AWS"
    bucket, prefix = settings.s3_bucket, settings.s3_prefix.strip("/")
    key = f"{prefix}/doctor-probe-{uuid.uuid4().hex}" if prefix else f"doctor-probe-{uuid.uuid4().hex}"
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as e:
        if aws_code(e) in ("404", "NoSuchBucket"):
            raise Problem(
                f"bucket {bucket!r} does not exist on {where}",
                "create it (compose: the minio-setup service does) or set CONVEYOR_S3_BUCKET",
            ) from None
        raise aws_problem(e, where, "CONVEYOR_S3_ENDPOINT_URL", keys) from None
    except UNREACHABLE as e:
        raise aws_problem(e, where, "CONVEYOR_S3_ENDPOINT_URL", keys) from None
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"conveyor doctor")
        client.delete_object(Bucket=bucket, Key=key)
    except (ClientError, *UNREACHABLE) as e:
        raise aws_problem(e, f"{where} (writing to {bucket})", "CONVEYOR_S3_ENDPOINT_URL", keys) from None
    return f"s3://{bucket}/{prefix} on {where}: exists, a probe object was written and deleted"


async def report_storage(probe: Probe) -> str:
    """Reports can be stored: the S3 bucket exists and takes writes, or the local directory is writable."""
    if probe.settings.storage is StorageBackend.S3:
        return await asyncio.to_thread(s3_round_trip, probe)
    return "local storage at " + writable_dir(probe.settings.reports_dir, "CONVEYOR_HOME or CONVEYOR_STORAGE=s3")


def sns_answer(probe: Probe) -> str:
    """Ask SNS for the account's SMS attributes: it reads nothing sent, but proves endpoint and keys (blocking)."""
    settings = probe.settings
    endpoint = settings.sns_endpoint_url
    where = f"SNS at {endpoint}" if endpoint else f"SNS in {settings.aws_region}"
    try:
        aws_client(settings.aws_config(endpoint), "sns").get_sms_attributes(attributes=["DefaultSMSType"])
    except ClientError as e:
        if aws_code(e) == "AuthorizationError":  # the keys are valid, only not allowed to read the attributes
            return f"{where}: credentials accepted (not allowed sns:GetSMSAttributes; sending may still be)"
        raise aws_problem(e, where, "CONVEYOR_SNS_ENDPOINT_URL") from None
    except UNREACHABLE as e:
        raise aws_problem(e, where, "CONVEYOR_SNS_ENDPOINT_URL") from None
    return f"{where}: credentials accepted, SMS type {settings.sms_type}"


async def sms_provider(probe: Probe) -> str:
    """Text messages can be sent: SNS answers with these credentials, or the outbox file can be written."""
    if probe.settings.sms_provider is SmsProviderName.SNS:
        return await asyncio.to_thread(sns_answer, probe)
    outbox = probe.settings.sms_outbox
    writable_dir(outbox.parent, "CONVEYOR_HOME")
    return f"outbox {outbox} (nothing is sent; CONVEYOR_SMS_PROVIDER=sns to send)"


async def data_files(probe: Probe) -> str:
    """The data directory, the only one whose files `csv:` recipients and `csv-file` reports read, is readable."""
    directory = probe.settings.readable_dir
    if not directory.exists():
        return f"{directory} absent: jobs that read CSV files fail until it exists (CONVEYOR_DATA_DIR)"
    readable_dir(directory, "point CONVEYOR_DATA_DIR at the directory of your CSV files")
    return f"{directory}: {sum(1 for p in directory.iterdir() if p.is_file())} file(s)"


async def alerts(probe: Probe) -> str:
    """Failure alerts have somewhere to go: the ops address, and a webhook whose host answers on its port. The
    URL is never printed (it is a credential): only its scheme and host."""
    settings = probe.settings
    channels = [f"email to {settings.ops_email}"] if settings.ops_email else []
    if settings.alert_webhook_url is not None:
        url = urlsplit(settings.alert_webhook_url.get_secret_value())  # valid: settings checked it at load
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError) as e:
            raise Problem(
                f"webhook host {url.scheme}://{host}:{port} unreachable ({type(e).__name__})",
                "check CONVEYOR_ALERT_WEBHOOK_URL and the network",
            ) from None
        writer.close()
        channels.append(f"webhook {url.scheme}://{host}/… (path hidden)")
    if not channels:
        return "none configured: failed jobs are only logged (CONVEYOR_OPS_EMAIL, CONVEYOR_ALERT_WEBHOOK_URL)"
    return ", ".join(channels)


async def team_jobs(probe: Probe) -> str:
    """The kinds a team added (`@job` modules in CONVEYOR_JOBS or `--jobs`, plugins), each with its queue: what
    this machine's worker would host besides the built-in kinds."""
    own = KINDS.own()
    if not own:
        return "none (name your @job modules in CONVEYOR_JOBS)"
    queues = probe.settings.queues
    return ", ".join(
        f"{k.name} ({k.shape.value}, queue {'by job' if callable(k.queue) else k.task_queue(queues, None)})"
        for k in own
    )


def health_url(settings: Settings) -> str:
    """Where a worker on this host serves its health check (`worker.health`): a wildcard interface is asked on
    loopback."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.metrics_host, settings.metrics_host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.health_port}/healthz"


def worker_answer(settings: Settings) -> str:
    """Ask the worker on this host whether its event loop turns (blocking): 503 or no answer in time is a stalled
    worker (red); nobody listening is a warning, since the doctor often runs where no worker does."""
    url = health_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as e:
        if e.code != 503:
            raise Problem(f"{url} answered {e.code}: not a Conveyor worker", "check CONVEYOR_HEALTH_PORT") from None
        blocked = json.loads(e.read() or b"{}").get("blocked_seconds", "?")
        raise Problem(
            f"{url}: the worker's event loop has not turned for {blocked} s "
            f"(over CONVEYOR_HEALTH_MAX_LAG_SECONDS={settings.health_max_lag_seconds:g})",
            "something blocks it (its log names the jobs it runs); a liveness probe on /healthz restarts it",
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            raise Problem(
                f"{url}: no answer within 5 s (the worker is stalled)",
                "restart it; a liveness probe on /healthz does",
            ) from None
        raise Degraded(
            f"no worker answers at {url}",
            "start `conveyor worker` here, or run the doctor beside one (`docker compose exec worker conveyor doctor`)",
        ) from None
    return f"{url}: event loop turning (lag {body.get('loop_lag_seconds', 0) * 1000:.0f} ms)"


async def worker(probe: Probe) -> str:
    """The worker on this host is not stalled: its event loop turns (`/healthz` on `CONVEYOR_HEALTH_PORT`)."""
    if not probe.settings.health_port:
        return "health check off (CONVEYOR_HEALTH_PORT=0)"
    return await asyncio.to_thread(worker_answer, probe.settings)


CHECKS: list[tuple[str, Check]] = [
    ("Temporal", temporal),
    ("Search attributes", search_attributes_present),
    ("Standalone activities", standalone_activities),
    ("SMTP", smtp),
    ("Templates", templates),
    ("Report storage", report_storage),
    ("SMS provider", sms_provider),
    ("Data files", data_files),
    ("Alerts", alerts),
    ("Worker", worker),
    ("Team jobs", team_jobs),
]
"""Every check, in the order printed."""


async def run_check(name: str, check: Check, probe: Probe) -> Result:
    """One check as a result: a `Problem`, a time-out or any other error is a failed line, never a crash."""
    try:
        return Result(name, True, await asyncio.wait_for(check(probe), CHECK_TIMEOUT))
    except Degraded as e:
        return Result(name, True, e.detail, e.fix, warning=True)
    except Problem as e:
        return Result(name, False, e.detail, e.fix)
    except TimeoutError:
        return Result(name, False, f"no answer within {CHECK_TIMEOUT:.0f} s", "check the address and firewalls")
    except Exception as e:
        return Result(name, False, f"{type(e).__name__}: {e}")


async def diagnose(settings: Settings) -> list[Result]:
    """Run every check in order."""
    probe = Probe(settings)
    return [await run_check(name, check, probe) for name, check in CHECKS]
