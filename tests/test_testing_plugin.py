"""`conveyor.testing`, the pytest plugin a team enables for its own jobs, run by pytester on a sample project:
its fixtures start a real server and worker, `outbox` holds what a job sent, `wait_for_jobs` waits, and a failing
job's error reaches the test."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

JOBS = '''
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

from conveyor import job
from conveyor.team_workflows import JOB_FAILURES, JobWorkflow, Progress


class Unpaid(Exception):
    """The invoice is not paid."""


@job(attempts=2, max_retry_wait="1s", never_retry=(Unpaid,))
async def remind(invoice: str, email: str) -> str:
    if invoice == "paid":
        raise Unpaid(f"invoice {invoice} needs no reminder")
    return f"reminded {email}"


class Dunning(BaseModel):
    invoice: str
    email: str


@job.workflow
@workflow.defn
class Dun(JobWorkflow):
    @workflow.run
    async def run(self, dunning: Dunning) -> list[str]:
        try:
            first = await remind.step(dunning.invoice, dunning.email)
            self.progress = Progress(stage="waiting", percent=50)
            await workflow.sleep(timedelta(seconds=1))
            second = await remind.step(dunning.invoice, dunning.email)
        except JOB_FAILURES as e:
            await self.fail(e)
        return [first, second]
'''

TESTS = """
import pytest
import sample_jobs

from conveyor import EmailJob, JobFailed, SmsJob

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


def test_a_text_is_kept_in_the_outbox(conveyor_worker, conveyor_jobs, outbox, wait_for_jobs):
    conveyor_jobs.sms(SmsJob(to="+14155550123", body="Your code is 1234"))
    wait_for_jobs()
    [text] = outbox.texts
    assert (text.to, text.body) == ("+14155550123", "Your code is 1234")


def test_a_teams_workflow_runs_its_steps(conveyor_worker, conveyor_jobs):
    handle = conveyor_jobs.enqueue("dun", {"invoice": "inv-2", "email": "cy@example.com"})
    assert handle.result(timeout=60).root == ["reminded cy@example.com"] * 2  # by name: the result model
    assert conveyor_jobs.status(handle.id).stage == "done"
"""


def test_the_plugin_runs_a_projects_job_tests_on_a_real_stack(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(sample_jobs=JOBS, test_sample=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=4)
