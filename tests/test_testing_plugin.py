"""`conveyor.testing`, the pytest plugin a team enables for its own jobs, run by pytester on a sample project:
its fixtures start a real server and worker, `outbox` holds what a job sent, `wait_for_jobs` waits, and a failing
job's error reaches the test."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

JOBS = '''
from conveyor import job


class Unpaid(Exception):
    """The invoice is not paid."""


@job(attempts=2, max_retry_wait="1s", never_retry=(Unpaid,))
async def remind(invoice: str, email: str) -> str:
    if invoice == "paid":
        raise Unpaid(f"invoice {invoice} needs no reminder")
    return f"reminded {email}"
'''

TESTS = """
import pytest
import sample_jobs

from conveyor import EmailJob, JobFailed

pytest_plugins = ["conveyor.testing"]


def test_a_reminder_is_sent(conveyor_worker, conveyor_jobs, outbox, wait_for_jobs):
    handle = sample_jobs.remind.enqueue(invoice="inv-1", email="ann@example.com")
    assert handle.result(timeout=60) == "reminded ann@example.com"
    conveyor_jobs.email(EmailJob(to=["ann@example.com"], subject="Invoice inv-1", text="Please pay."))
    wait_for_jobs()
    [email] = outbox.emails
    assert (email.to, email.subject, email.text.strip()) == (["ann@example.com"], "Invoice inv-1", "Please pay.")


def test_a_failing_job_says_why(conveyor_worker, conveyor_jobs):
    handle = sample_jobs.remind.enqueue(invoice="paid", email="bob@example.com")
    with pytest.raises(JobFailed) as failed:
        handle.result(timeout=60)
    assert failed.value.type == "Unpaid"
    assert conveyor_jobs.status(handle.id).attempts == 1
"""


def test_the_plugin_runs_a_projects_job_tests_on_a_real_stack(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(sample_jobs=JOBS, test_sample=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=2)
