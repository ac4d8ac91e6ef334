"""The worker holds an activity-shaped job to its kind's policy row whoever started it: a re-run from the web UI
runs under the server's default retry policy (retry for ever, 1 s doubling to 100 s), so the worker decides what
the row would have: the last attempt, the types never retried, and the wait before the next attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from contracts.policy import SERVER_DEFAULT_RETRY
from worker.last_attempt import by_its_policy
from workflows.policies import POLICIES

EMAIL = POLICIES["email"]


@pytest.mark.parametrize("attempt", [1, 2, 5, 9, 10, 11])
def test_a_rerun_from_the_web_ui_waits_as_its_row_says(attempt: int) -> None:
    error = by_its_policy(EMAIL, attempt, ApplicationError("4xx", type="SmtpUnavailable"), SERVER_DEFAULT_RETRY)
    assert isinstance(error, ApplicationError) and not error.non_retryable and error.type == "SmtpUnavailable"
    assert error.next_retry_delay == min(timedelta(seconds=2 ** (attempt - 1)), timedelta(minutes=5))


def test_a_rerun_from_the_web_ui_ends_at_its_rows_last_attempt() -> None:
    error = by_its_policy(EMAIL, EMAIL.max_attempts, OSError("connection reset"), SERVER_DEFAULT_RETRY)
    assert isinstance(error, ApplicationError) and error.non_retryable and error.type == "OSError"


def test_a_rerun_from_the_web_ui_never_retries_what_its_row_never_retries() -> None:
    error = by_its_policy(EMAIL, 1, ApplicationError("no such template", type="TemplateNotFound"), SERVER_DEFAULT_RETRY)
    assert isinstance(error, ApplicationError) and error.non_retryable


def test_a_job_under_its_own_row_or_a_producers_intervals_is_left_alone() -> None:
    error = ApplicationError("4xx", type="SmtpUnavailable")
    assert by_its_policy(EMAIL, 3, error, EMAIL.retry_policy()) is error
    producers = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_interval=timedelta(milliseconds=50))
    assert by_its_policy(EMAIL, 3, error, producers) is error
    named = ApplicationError("slow down", type="ProviderThrottled", next_retry_delay=timedelta(seconds=30))
    assert by_its_policy(EMAIL, 3, named, SERVER_DEFAULT_RETRY) is named
