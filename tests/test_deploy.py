"""The production stack stays deployable without a Docker engine here: the compose file validates with Debian's
`docker-compose`, sets only real settings and every one a worker needs, holds no secret (nor does the image),
and the Grafana dashboard queries metrics the Temporal SDK really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from conveyor import EmailJob, JobFailed, Jobs, Settings
from conveyor.settings import SmsProviderName, StorageBackend
from tests.smtp_server import SmtpServer, free_port
from worker.build import build_workers
from worker.run import running

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ENV_EXAMPLE = dict(
    line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if line and not line.startswith("#")
)
CONVEYOR_SERVICES = {name: s for name, s in COMPOSE["services"].items() if s.get("image", "").startswith("conveyor")}
SECRET = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN|^MP_SMTP_AUTH$")
PRODUCTION_SETTINGS = {
    "temporal_address", "namespace", "smtp_host", "smtp_port", "smtp_tls", "smtp_username", "smtp_password",
    "mail_from",
}  # fmt: skip
"""What a worker needs set in production: the defaults point at `conveyor dev`'s local stack."""


def docker_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    """Run Debian's docker-compose on the file, with only `env_file` as variables (none from this shell)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing in CI: .ci/run installs it with apt-get")
        pytest.skip("docker-compose not installed (apt-get install -y docker-compose): compose file not validated")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_compose_file_is_valid_with_every_variable_in_env_example() -> None:
    ran = docker_compose("config", "-q", env_file=ROOT / ".env.example")
    assert ran.returncode == 0, ran.stderr
    assert "is not set" not in ran.stderr, f".env.example lacks a variable the compose file uses:\n{ran.stderr}"


def test_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    ran = docker_compose("config", "-q", env_file=empty)
    assert ran.returncode != 0
    assert re.search(r"set [A-Z_]+(PASSWORD|USERNAME) in \.env", ran.stderr), ran.stderr


def test_compose_scales_workers_and_runs_setup_and_api_from_the_same_image() -> None:
    services = COMPOSE["services"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["worker"]["command"] == ["conveyor", "worker"]
    assert services["api"]["command"] == ["conveyor", "api"]
    assert services["conveyor-setup"]["command"] == ["sh", "-c", "conveyor setup && conveyor schedules apply"]
    assert services["worker"]["depends_on"]["conveyor-setup"]["condition"] == "service_completed_successfully"
    assert {"worker", "api", "conveyor-setup"} <= set(CONVEYOR_SERVICES)
    assert services["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert "postgresql-data:/var/lib/postgresql/data" in services["postgresql"]["volumes"]


def test_workers_store_reports_in_the_stacks_minio_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's environment as compose resolves it from .env.example is valid settings: S3 on MinIO with the
    bucket minio-setup creates and MinIO's login, SMS to the outbox; and the worker starts only once the bucket
    exists."""
    ran = docker_compose("config", env_file=ROOT / ".env.example")
    assert ran.returncode == 0, ran.stderr
    worker = yaml.safe_load(ran.stdout)["services"]["worker"]
    assert worker["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"
    for key in [k for k in os.environ if k.startswith("CONVEYOR_")]:
        monkeypatch.delenv(key)
    for key, value in worker["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = Settings(_env_file=None)
    assert settings.storage is StorageBackend.S3
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.s3_bucket == ENV_EXAMPLE["MINIO_BUCKET"]
    s3 = settings.s3_aws_config()
    assert s3.access_key_id == ENV_EXAMPLE["MINIO_ROOT_USER"] and s3.secret_access_key is not None
    assert s3.secret_access_key.get_secret_value() == ENV_EXAMPLE["MINIO_ROOT_PASSWORD"]
    assert settings.aws_access_key_id is None, "SNS keeps AWS's own keys (none in .env.example: boto3's chain)"
    assert settings.sms_provider is SmsProviderName.OUTBOX and settings.sns_endpoint_url is None


def test_optional_report_workers_serve_only_the_reports_queue() -> None:
    service = COMPOSE["services"]["report-worker"]
    assert service["profiles"] == ["reports"], "started only on request"
    assert service["command"] == ["conveyor", "worker", "--queues", Settings.model_fields["reports_task_queue"].default]
    assert service["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"


def test_compose_sets_only_real_settings() -> None:
    fields = {f"CONVEYOR_{name.upper()}" for name in Settings.model_fields}
    for name, service in CONVEYOR_SERVICES.items():
        unknown = {k for k in service["environment"] if k.startswith("CONVEYOR_")} - fields
        assert not unknown, f"{name} sets variables Settings does not read: {unknown}"
    assert not {k for k in ENV_EXAMPLE if k.startswith("CONVEYOR_")} - fields


def test_worker_gets_every_production_setting() -> None:
    for name, service in CONVEYOR_SERVICES.items():
        missing = {f"CONVEYOR_{s.upper()}" for s in PRODUCTION_SETTINGS} - set(service["environment"])
        assert not missing, f"{name} lacks {missing}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in COMPOSE["services"].items():
        env: dict[str, Any] = service.get("environment", {})
        for key, value in env.items():
            if SECRET.search(key):
                assert "${" in str(value), f"{name}: {key} must come from .env, not be written in the file"


def test_env_example_holds_only_placeholders_for_secrets() -> None:
    for key, value in ENV_EXAMPLE.items():
        if SECRET.search(key):
            assert value == "" or value.startswith("change-me"), f"{key} in .env.example looks like a real secret"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_image_runs_a_worker_as_a_non_root_user_without_secrets() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instruction = {m[1]: m[2] for m in re.finditer(r"^([A-Z]+) (.*)$", dockerfile, re.MULTILINE)}  # the last of each
    assert instruction["FROM"] == "python:3.11-slim"
    assert instruction["USER"] not in ("root", "0")
    assert json.loads(instruction["CMD"]) == ["conveyor", "worker"]
    assert "RUN pip install . " in dockerfile, "runtime dependencies only: no [test] extra"
    assert not SECRET.search(dockerfile), "no password, key or token in the image: they come at run time"
    assert "ARG" not in instruction and "ADD" not in instruction
    assert {".env", ".venv", ".git", "tests"} <= set((ROOT / ".dockerignore").read_text().split())


def test_prometheus_scrapes_every_worker_service() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    workers = {
        name
        for name, service in COMPOSE["services"].items()
        if service.get("command", [])[:2] == ["conveyor", "worker"]
    }
    assert set(jobs["conveyor-worker"]["dns_sd_configs"][0]["names"]) == workers == {"worker", "report-worker"}
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in COMPOSE["services"]["prometheus"]["volumes"]


async def test_dashboard_queries_metrics_the_worker_exports(
    temporal_env: WorkflowEnvironment, settings: Settings, smtp_server: SmtpServer
) -> None:
    """Run real jobs of both shapes (one sent as a standalone activity, one failed as a workflow) on a worker with
    the SDK's Prometheus exporter, then check that every metric the dashboard queries is in what it serves."""
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "conveyor.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = {m for e in expressions for m in re.findall(r"(?:temporal|conveyor)_\w+", e)}
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(
        settings.temporal_address, runtime=runtime, data_converter=pydantic_data_converter, namespace="default"
    )
    smtp_server.fail("metrics-gone@example.com", 550)
    async with running(build_workers(client, settings)):
        jobs = Jobs(client, settings.model_copy(update={"standalone_activities": True}))
        sent = await jobs.email(EmailJob(to=["metrics-ok@example.com"], subject="s", text="t"))
        await sent.result()
        workflows = Jobs(client, settings.model_copy(update={"standalone_activities": False}))
        failed = await workflows.email(EmailJob(to=["metrics-gone@example.com"], subject="s", text="t"))
        with pytest.raises(JobFailed):
            await failed.result()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: ASYNC210
            exported = {line.split("{")[0].split(" ")[0] for line in response.read().decode().splitlines()}
    assert {"conveyor_jobs_succeeded", "conveyor_jobs_failed"} <= queried, "job counts of both shapes, by kind"
    assert queried <= exported, f"not exported by the SDK: {queried - exported}"


def test_compose_temporal_server_runs_standalone_activities() -> None:
    """Conveyor's email and SMS jobs are standalone activities: server 1.31+, with the dynamic config that turns
    them on before the GA release, schema tools of the same version, and a web UI with their page."""
    services = COMPOSE["services"]
    temporal = services["temporal"]
    image, version = temporal["image"].split(":")
    assert image == "temporalio/server" and tuple(int(p) for p in version.split(".")) >= (1, 31)
    for one_off in ("temporal-schema", "temporal-namespace"):
        assert services[one_off]["image"] == f"temporalio/admin-tools:{version}"
    [mount] = [v for v in temporal["volumes"] if "dynamicconfig" in v]
    source, target = mount.split(":")[:2]
    assert temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"] == target
    config = yaml.safe_load((ROOT / source).read_text())
    for flag in ("history.enableTransitionHistory", "history.enableChasm", "activity.enableStandalone"):
        assert config[flag] == [{"value": True}], flag
    for script in ("setup-schema.sh", "create-namespace.sh"):
        assert subprocess.run(["sh", "-n", str(ROOT / "deploy" / "temporal" / script)]).returncode == 0, script
    assert services["conveyor-setup"]["depends_on"]["temporal-namespace"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["temporal-ui"]["image"] >= "temporalio/ui:2.54"
