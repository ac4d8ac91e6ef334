"""`conveyor doctor` against the real dev server and the real STARTTLS + AUTH SMTP server: a ready setup is all
green, and each broken setting is one red line that says what to change (and never prints a secret)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from activities.aws import aws_client
from conveyor import Settings
from conveyor.settings import SmsProviderName, StorageBackend
from tests.cli import BIN, env_for, run
from tests.smtp_server import PASSWORD, free_port
from worker.doctor import CHECKS, Probe, Result, run_check
from worker.health import watching_loop


def doctor_env(settings: Settings) -> dict[str, str]:
    """Every setting of `settings` as a CONVEYOR_* variable (secrets revealed: the child needs them)."""
    env = env_for(settings)
    for name, value in settings.model_dump().items():
        if value is not None:
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"CONVEYOR_{name.upper()}"] = str(plain)
    return env


async def doctor(settings: Settings, **overrides: object) -> tuple[int, list[str], str]:
    """Run the real `conveyor doctor`; its exit code, its lines, and everything it printed."""
    ran = await run(str(BIN / "conveyor"), "doctor", env=doctor_env(settings.model_copy(update=overrides)))
    return ran.code, ran.out.splitlines(), ran.out + ran.err


async def check(name: str, settings: Settings, **overrides: object) -> Result:
    """One check, in process."""
    [fn] = [fn for n, fn in CHECKS if n == name]
    return await run_check(name, fn, Probe(settings.model_copy(update=overrides)))


def write_template(root: Path, name: str, **parts: str) -> None:
    (root / name).mkdir(parents=True)
    for part, text in parts.items():
        (root / name / part.replace("_", ".")).write_text(text)


async def test_ready_setup_is_all_green_and_exits_0(settings: Settings, tmp_path: Path) -> None:
    write_template(tmp_path / "templates", "invoice", subject_txt="Invoice {{ n }}", body_txt="Total: {{ total }}")
    settings = settings.model_copy(update={"health_port": free_port()})
    async with watching_loop(settings):  # this event loop stands for the worker's: it turns while doctor runs
        code, lines, _ = await doctor(settings, templates_dir=tmp_path / "templates")
    assert code == 0, lines
    assert [line[0] for line in lines] == ["✓"] * len(CHECKS)
    temporal, attributes, standalone, smtp, templates, storage, sms, data, alerts, worker, team = lines
    assert f"{settings.temporal_address}, namespace default" in temporal
    assert "JobKey, Recipients" in attributes
    assert "Standalone activities" in standalone and "supported (" in standalone
    assert "STARTTLS, AUTH as conveyor, sender jobs@conveyor.test accepted" in smtp
    assert f"6 template(s) load: 1 in {tmp_path / 'templates'}, 5 built-in" in templates, "yours and the built-ins"
    assert f"local storage at {settings.reports_dir} (created on first use)" in storage
    assert f"outbox {settings.sms_outbox}" in sms
    assert f"{settings.readable_dir}: " in data and "file(s)" in data
    assert "none configured" in alerts
    assert f"http://127.0.0.1:{settings.health_port}/healthz: event loop turning" in worker
    assert team.startswith("✓ Team jobs")


async def test_server_without_standalone_activities_is_a_warning_and_says_what_to_run(
    time_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The time-skipping test server answers workflow calls but not standalone-activity ones (UNIMPLEMENTED), as
    a Temporal server older than 1.31 does: email and SMS then run as workflows, so the doctor warns (and exits
    0), unless CONVEYOR_STANDALONE_ACTIVITIES=true insists on them, which fails."""
    address = time_env.client.service_client.config.target_host
    for asked, red in [(None, False), (False, False), (True, True)]:
        result = await check("Standalone activities", settings, temporal_address=address, standalone_activities=asked)
        assert result.ok is not red and result.warning is not red, asked
        assert "not supported by the server at " + address in result.detail
        assert result.fix is not None and "1.31+" in result.fix
    assert "CONVEYOR_STANDALONE_ACTIVITIES=false" in (result.fix or ""), "the way out when the setting insists"
    warned = Result("Standalone activities", True, "not supported: email and SMS jobs run as workflows", "upgrade",
                    warning=True)  # fmt: skip
    assert warned.line().startswith("! Standalone activities") and warned.line().endswith("-> fix: upgrade")


async def test_wrong_smtp_password_is_named_but_never_printed(settings: Settings) -> None:
    wrong = "wrong-password-do-not-print"
    code, lines, printed = await doctor(settings, smtp_password=SecretStr(wrong))
    assert code == 1
    [smtp] = [line for line in lines if "SMTP" in line]
    assert smtp.startswith("✗") and "AUTH as conveyor refused: 535" in smtp
    assert "fix: check CONVEYOR_SMTP_USERNAME and CONVEYOR_SMTP_PASSWORD" in smtp
    assert wrong not in printed and PASSWORD not in printed
    assert all(line.startswith("✓") for line in lines if "SMTP" not in line)


async def test_unreachable_temporal_is_red_with_the_address(settings: Settings) -> None:
    address = f"127.0.0.1:{free_port()}"
    code, lines, _ = await doctor(settings, temporal_address=address)
    assert code == 1
    temporal, attributes, standalone, smtp, *_ = lines
    assert temporal.startswith("✗") and f"cannot connect to {address}" in temporal
    assert "fix: check CONVEYOR_TEMPORAL_ADDRESS" in temporal
    assert attributes.startswith("✗") and "not checked" in attributes
    assert standalone.startswith("✗") and "not checked" in standalone
    assert smtp.startswith("✓"), "one broken service does not hide the state of the others"


async def test_missing_namespace_says_how_to_create_it(settings: Settings) -> None:
    code, lines, _ = await doctor(settings, namespace="no-such-namespace")
    assert code == 1
    assert lines[0].startswith("✗") and "namespace 'no-such-namespace' does not exist" in lines[0]
    assert "temporal operator namespace create no-such-namespace" in lines[0]


async def test_invalid_setting_is_one_red_line_naming_the_variable(settings: Settings) -> None:
    env = doctor_env(settings) | {"CONVEYOR_SMTP_PORT": "not-a-port"}
    ran = await run(str(BIN / "conveyor"), "doctor", env=env)
    assert ran.code == 1
    assert ran.out.startswith("✗ Settings") and "CONVEYOR_SMTP_PORT" in ran.out
    assert PASSWORD not in ran.out + ran.err


async def test_webhook_url_without_scheme_is_red_and_never_printed(settings: Settings) -> None:
    secret = "hooks.example.com/services/T0/B0/doctor-secret-token"
    env = doctor_env(settings) | {"CONVEYOR_ALERT_WEBHOOK_URL": secret}
    ran = await run(str(BIN / "conveyor"), "doctor", env=env)
    assert ran.code == 1
    assert ran.out.startswith("✗ Settings") and "CONVEYOR_ALERT_WEBHOOK_URL" in ran.out
    assert "https://" in ran.out  # says what is missing
    assert "doctor-secret-token" not in ran.out + ran.err


async def test_webhook_alerts_name_the_host_never_the_path(settings: Settings) -> None:
    port = free_port()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    async with server:
        hook = SecretStr(f"http://127.0.0.1:{port}/services/path-secret")
        green = await check("Alerts", settings, alert_webhook_url=hook, ops_email="ops@example.com")
    assert green.ok and "email to ops@example.com" in green.detail and "http://127.0.0.1/" in green.detail
    red = await check("Alerts", settings, alert_webhook_url=hook)  # the server is gone
    assert not red.ok and f"127.0.0.1:{port} unreachable" in red.detail
    assert "path-secret" not in green.detail + red.detail


async def test_smtp_without_starttls_suggests_it(settings: Settings) -> None:
    result = await check("SMTP", settings, smtp_tls="none")
    assert not result.ok and "AUTH not possible" in result.detail
    assert result.fix is not None and "CONVEYOR_SMTP_TLS=starttls" in result.fix


async def test_untrusted_smtp_certificate_suggests_a_ca_file(settings: Settings) -> None:
    result = await check("SMTP", settings, smtp_ca_file=None)
    assert not result.ok and "STARTTLS failed" in result.detail
    assert result.fix is not None and "CONVEYOR_SMTP_CA_FILE" in result.fix


async def test_smtp_down_names_host_and_port(settings: Settings) -> None:
    port = free_port()
    result = await check("SMTP", settings, smtp_port=port)
    assert not result.ok and f"cannot connect to 127.0.0.1:{port}" in result.detail
    assert result.fix is not None and "CONVEYOR_SMTP_PORT" in result.fix


async def test_broken_templates_are_each_named(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "templates"
    write_template(root, "bad-syntax", subject_txt="Hi", body_html="{% if %}")
    write_template(root, "no-body", subject_txt="Hi")
    write_template(root, "fine", subject_txt="Hi", body_txt="Hello")
    result = await check("Templates", settings, templates_dir=root)
    assert not result.ok
    assert "bad-syntax/body.html' line 1" in result.detail and "'no-body' has no body" in result.detail
    assert "fine" not in result.detail.replace(str(root), "")


async def test_templates_count_the_built_ins_a_job_can_name_too(settings: Settings, tmp_path: Path) -> None:
    """The line counts every template a job can name: a team's own, a team's override of a built-in (once), and
    the built-ins; without a templates directory, the built-ins alone."""
    root = tmp_path / "templates"
    write_template(root, "welcome", subject_txt="Hi {{ name }}", body_txt="Welcome aboard")
    write_template(root, "invoice", subject_txt="Invoice", body_txt="Total: {{ total }}")
    mine = await check("Templates", settings, templates_dir=root)
    assert mine.ok and mine.detail == f"6 template(s) load: 2 in {root} (1 overriding a built-in), 4 built-in"
    absent = await check("Templates", settings, templates_dir=tmp_path / "none")
    assert absent.ok and absent.detail == f"5 template(s) load: {tmp_path / 'none'} absent, 5 built-in"


async def test_templates_dir_that_is_a_file_is_red(settings: Settings, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "templates"
    not_a_dir.write_text("oops")
    result = await check("Templates", settings, templates_dir=not_a_dir)
    assert not result.ok and result.fix is not None and "CONVEYOR_TEMPLATES_DIR" in result.fix


async def test_data_directory_is_checked_readable(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.csv").write_text("email\n")
    assert (await check("Data files", settings, data_dir=tmp_path / "data")).detail.endswith("data: 1 file(s)")
    absent = await check("Data files", settings, data_dir=tmp_path / "nowhere")
    assert absent.ok and "absent" in absent.detail
    (tmp_path / "file").write_text("not a directory")
    result = await check("Data files", settings, data_dir=tmp_path / "file")
    assert not result.ok and result.fix is not None and "CONVEYOR_DATA_DIR" in result.fix


async def test_search_attributes_not_required_when_disabled(settings: Settings) -> None:
    result = await check("Search attributes", settings, search_attributes=False)
    assert result.ok and "CONVEYOR_SEARCH_ATTRIBUTES=false" in result.detail


async def test_missing_search_attributes_are_red_until_setup_runs(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    namespace = f"doctor-{uuid.uuid4().hex[:8]}"
    await temporal_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )
    fresh = settings.model_copy(update={"namespace": namespace})
    before = await check("Search attributes", fresh)
    assert not before.ok and f"missing on namespace {namespace}: JobKey, Recipients" in before.detail
    assert before.fix is not None and "conveyor setup" in before.fix
    setup = await run(str(BIN / "conveyor"), "setup", env=doctor_env(fresh))
    assert setup.code == 0, setup.err
    after = await check("Search attributes", fresh)
    assert after.ok, after.detail


AWS_SECRET = "aws-secret-do-not-print"


@pytest.fixture
def aws_settings(settings: Settings, moto_server: str) -> Settings:
    """Reports in a fresh bucket on moto's S3 and SMS through its SNS, with a secret key that must never show."""
    bucket = f"doctor-{uuid.uuid4().hex[:12]}"
    aws = {"aws_access_key_id": "doctor-key", "aws_secret_access_key": SecretStr(AWS_SECRET)}
    boto3.client(
        "s3", region_name="us-east-1", endpoint_url=moto_server, aws_access_key_id="doctor-key",
        aws_secret_access_key=AWS_SECRET,
    ).create_bucket(Bucket=bucket)  # fmt: skip
    s3 = {"storage": StorageBackend.S3, "s3_bucket": bucket, "s3_endpoint_url": moto_server}
    sns = {"sms_provider": SmsProviderName.SNS, "sns_endpoint_url": moto_server}
    return settings.model_copy(update=s3 | sns | aws)


async def test_s3_with_its_own_keys_needs_no_aws_keys(
    aws_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No AWS keys anywhere (settings, environment, files): S3 can only have been reached with its own pair.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    own = {"s3_access_key_id": "minio-key", "s3_secret_access_key": SecretStr(AWS_SECRET)}
    result = await check("Report storage", aws_settings, aws_access_key_id=None, aws_secret_access_key=None, **own)
    assert result.ok, result.detail
    without = await check("Report storage", aws_settings, aws_access_key_id=None, aws_secret_access_key=None)
    assert not without.ok and "no AWS credentials" in without.detail and AWS_SECRET not in without.line()


def objects(settings: Settings) -> list[str]:
    """The keys in the settings' bucket."""
    s3 = aws_client(settings.aws_config(settings.s3_endpoint_url), "s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])]


async def test_s3_bucket_and_sns_on_moto_are_green_and_leave_nothing_behind(aws_settings: Settings) -> None:
    code, lines, printed = await doctor(aws_settings)
    assert code == 0, lines
    *_, storage, sms, _data, _alerts, _worker, _team = lines
    assert storage.startswith("✓ Report storage")
    assert f"s3://{aws_settings.s3_bucket}/reports on S3 at {aws_settings.s3_endpoint_url}: exists" in storage
    assert sms.startswith("✓ SMS provider") and f"SNS at {aws_settings.sns_endpoint_url}: credentials accepted" in sms
    assert objects(aws_settings) == [], "the probe object is deleted"
    assert AWS_SECRET not in printed


async def test_missing_bucket_is_red_and_names_the_bucket_setting(aws_settings: Settings) -> None:
    code, lines, printed = await doctor(aws_settings, s3_bucket="no-such-bucket")
    assert code == 1
    [storage] = [line for line in lines if "Report storage" in line]
    assert storage.startswith("✗") and "bucket 'no-such-bucket' does not exist" in storage
    assert "fix: create it" in storage and "CONVEYOR_S3_BUCKET" in storage
    assert AWS_SECRET not in printed
    assert all(line.startswith("✓") for line in lines if "Report storage" not in line)


async def test_unreachable_s3_names_the_endpoint_setting(aws_settings: Settings) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = await check("Report storage", aws_settings, s3_endpoint_url=endpoint)
    assert not result.ok and f"cannot reach S3 at {endpoint}" in result.detail
    assert result.fix is not None and "CONVEYOR_S3_ENDPOINT_URL" in result.fix


async def test_unreachable_sns_is_red_naming_endpoint_and_region_never_the_secret(aws_settings: Settings) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, lines, printed = await doctor(aws_settings, sns_endpoint_url=endpoint)
    assert code == 1
    [sms] = [line for line in lines if "SMS provider" in line]
    assert sms.startswith("✗") and f"cannot reach SNS at {endpoint}" in sms
    assert "fix: check CONVEYOR_SNS_ENDPOINT_URL (empty: AWS) and CONVEYOR_AWS_REGION" in sms
    assert AWS_SECRET not in printed


async def test_local_storage_under_a_file_is_red(settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "not-a-dir"
    home.write_text("oops")  # (permissions would prove nothing: the suite may run as root)
    result = await check("Report storage", settings, home=home)
    assert not result.ok and f"{home} is not a writable directory" in result.detail
    assert result.fix is not None and "CONVEYOR_HOME" in result.fix


class EmptyReply(BaseHTTPRequestHandler):
    """Answers every POST with an empty 200: something listens at the endpoint, but it is not AWS."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture
def not_aws() -> Iterator[str]:
    """The URL of an `EmptyReply` server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmptyReply)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_sns_endpoint_that_is_not_sns_is_one_red_line(aws_settings: Settings, not_aws: str) -> None:
    """Something answered, but not in AWS's language (another service, a proxy): red, on one line."""
    result = await check("SMS provider", aws_settings, sns_endpoint_url=not_aws)
    assert not result.ok and f"cannot reach SNS at {not_aws}: Unable to parse response" in result.detail
    assert "\n" not in result.line()
    assert result.fix is not None and "CONVEYOR_SNS_ENDPOINT_URL" in result.fix
