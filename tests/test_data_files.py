"""Jobs read files only in the worker's data directory: a producer cannot make the worker mail them a file from
elsewhere on its machine, by an absolute path, `..` or a symlink."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.data_files import data_file, reading_under
from contracts.errors import InvalidJob
from conveyor import JobFailed, Jobs, ReportJob, Settings
from tests.smtp_server import SmtpServer
from worker.build import build_workers
from worker.run import running


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the data directory (`tmp_path/data`) that no job may read."""
    path = tmp_path / "secret.csv"
    path.write_text("email\nsecret@example.com\n")
    return path


def test_paths_resolve_inside_the_data_directory_only(tmp_path: Path, secret: Path) -> None:
    data = tmp_path / "data"
    (data / "lists").mkdir(parents=True)
    (data / "lists" / "ok.csv").write_text("email\n")
    (data / "link.csv").symlink_to(secret)
    with reading_under(data):
        assert data_file("lists/ok.csv") == (data / "lists" / "ok.csv").resolve()
        assert data_file(data / "lists" / "ok.csv") == (data / "lists" / "ok.csv").resolve()
        for bad in (str(secret), "../secret.csv", "lists/../../secret.csv", "link.csv", "/etc/passwd"):
            with pytest.raises(InvalidJob, match="outside the data directory"):
                data_file(bad)
    with pytest.raises(InvalidJob, match="no data directory"):
        data_file("lists/ok.csv")


@pytest.fixture
def confined(settings: Settings, tmp_path: Path) -> Settings:
    """The test's settings with the data directory `tmp_path/data` (the default settings use all of tmp_path)."""
    (tmp_path / "data").mkdir()
    return settings.model_copy(update={"data_dir": tmp_path / "data"})


async def test_jobs_reading_a_file_outside_the_data_directory_fail_for_good(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, confined: Settings, secret: Path, tmp_path: Path
) -> None:
    (tmp_path / "data" / "list.csv").write_text("email,name\nann@example.com,Ann\n")
    async with running(build_workers(temporal_env.client, confined)):
        jobs = Jobs(temporal_env.client, confined)
        for source in (f"csv:{secret}", "csv:../secret.csv"):
            handle = await jobs.broadcast({"source": source, "message": {"template": "newsletter"}})
            with pytest.raises(JobFailed) as failed:
                await handle.result()
            assert failed.value.type == "InvalidJob" and "outside the data directory" in str(failed.value)
        assert not [m for m in smtp_server.handler.received if "secret@example.com" in m.rcpt_tos]
        inside = await jobs.broadcast({"source": "csv:list.csv", "message": {"template": "newsletter"}})
        assert (await inside.result()).sent == 1, "a path relative to the data directory is read"

        report = await jobs.report(ReportJob(report="csv-file", params={"path": str(secret)}, format="csv"))
        with pytest.raises(JobFailed) as failed:
            await report.result()
        assert failed.value.type == "InvalidJob" and "outside the data directory" in str(failed.value)
