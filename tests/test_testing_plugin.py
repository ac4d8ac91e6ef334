"""`conveyor.testing`, the pytest plugin a team enables for its own jobs, run by pytester on the sample project of
its docs page (its conftest, jobs module and test modules are the page's blocks, as a reader pastes them): its
fixtures start a real server and worker, `outbox` holds what a job sent, `wait_for_jobs` waits, a failing job's
error reaches the test, and tests marked for time skipping see a delayed job and a workflow's week-long timer pass
at once (the sample's result waits give up after a minute)."""

from __future__ import annotations

import pytest

from tests.snippets import ROOT, block

pytest_plugins = ["pytester"]

PAGE = ROOT / "docs" / "testing-your-jobs.md"
FILES = ("conftest.py", "myapp/jobs.py", "test_reminders.py", "test_later.py")
"""The sample project's files, each the page's block that begins by naming it."""


def test_the_plugin_runs_a_projects_job_tests_on_a_real_stack(pytester: pytest.Pytester) -> None:
    (pytester.path / "myapp").mkdir()
    (pytester.path / "myapp" / "__init__.py").touch()
    for name in FILES:
        (pytester.path / name).write_text(block(PAGE, f"# {name}\n") + "\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=5)
