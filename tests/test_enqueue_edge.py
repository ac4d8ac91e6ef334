"""Bad input is refused at the edge, with a typed error naming the field, and nothing reaches Temporal."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.kinds import KINDS
from conveyor import EmailJob, InvalidJobError, JobNotFound, Jobs, JobState
from conveyor.client import MAX_PAYLOAD_BYTES, validate
from conveyor.operations import JobStats
from tests.reliability.strategies import nested

GOOD: dict[str, Any] = {"to": ["ann@example.com"], "template": "welcome", "context": {"name": "Ann"}}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"to": ["not-an-address"]}, "to.0"),
        ({"to": []}, "to"),
        ({"cc": ["ann@"]}, "cc.0"),
        ({"template": "../etc/passwd"}, "template must be a name"),
        ({"template": None}, "give 'template', or 'subject'"),
        ({"subject": "Hi"}, "not both"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"to": [f"u{i}@example.com" for i in range(51)]}, "at most 50 recipients"),
        ({"attachments": [{"filename": "a.bin"}]}, "exactly one of 'content' or 'storage_key'"),
        ({"attachments": [{"filename": "a.bin", "content": base64.b64encode(b"x" * 600_000).decode()}]}, "over"),
    ],
)
async def test_invalid_email_is_refused_before_enqueue(jobs: Jobs, change: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidJobError) as refused:
        await jobs.email({**GOOD, **change}, key="must-not-exist")
    assert named in str(refused.value)
    with pytest.raises(JobNotFound):
        await jobs.status("email-must-not-exist")


async def test_bad_key_and_negative_delay_are_refused(jobs: Jobs) -> None:
    with pytest.raises(InvalidJobError, match="key must be"):
        await jobs.email(GOOD, key="has spaces")
    with pytest.raises(InvalidJobError, match="delay"):
        await jobs.email(GOOD, delay=timedelta(seconds=-1))


async def test_oversized_payload_is_refused(jobs: Jobs) -> None:
    with pytest.raises(InvalidJobError, match=f"over the {MAX_PAYLOAD_BYTES} limit"):
        await jobs.email({**GOOD, "context": {"blob": "x" * (MAX_PAYLOAD_BYTES + 1)}})


async def test_unknown_job_id_is_not_found(jobs: Jobs) -> None:
    with pytest.raises(JobNotFound):
        await jobs.status("email-nobody-enqueued-this")


def frames_deeper(frames: int, call: Callable[[], object]) -> object:
    """`call()`, made `frames` Python frames deeper than here (as a call inside tasks and gathers is)."""
    return call() if frames == 0 else frames_deeper(frames - 1, call)


@pytest.mark.parametrize("frames", [0, 200])
def test_a_value_nested_a_thousand_deep_is_refused_typed_at_any_stack_depth(frames: int) -> None:
    """Found by the fuzz run `--random --full --hypothesis-seed=2897606328`: validating a report whose `format` is
    nested 1,000 deep builds the enum from it, and the enum's error message (its repr) recursed past Python's
    limit. Whether it did depended on how deep the caller's stack already was: the examples passed alone and
    crashed `Jobs.bulk` with a RecursionError instead of the typed refusal."""
    job = {"report": "jobs-summary", "format": nested(1000)}
    with pytest.raises(InvalidJobError, match="invalid report job"):
        frames_deeper(frames, lambda: validate(KINDS["report"], job))


@pytest.mark.parametrize(
    "build",
    [
        lambda: EmailJob(to=["nope"], template="welcome"),
        lambda: EmailJob(**{"to": ["nope"], "template": "welcome"}),
        lambda: validate(KINDS["email"], {"to": ["nope"], "template": "welcome"}),
    ],
    ids=["by-hand", "from-kwargs", "from-a-dict"],
)
def test_a_bad_email_says_invalid_email_job_however_it_is_built(build: Callable[[], object]) -> None:
    """The docs promise one message whichever way a job is built: the kind's words, never the class name."""
    with pytest.raises(InvalidJobError) as refused:
        build()
    assert str(refused.value).startswith("invalid email job: to.0: value is not a valid email address")


def test_counts_per_kind_read_as_plain_state_names() -> None:
    """`print(jobs.stats().by_kind()["email"])` shows `{'queued': 0, ...}`, not enum reprs; a `JobState` still
    indexes it."""
    stats = JobStats(since=datetime.now(UTC), counts={"email": {"conveyor": {JobState.COMPLETED: 2}}})
    email = stats.by_kind()["email"]
    assert str(email).startswith("{'queued': 0, ") and "JobState" not in str(email)
    assert email[JobState.COMPLETED] == email["completed"] == 2
