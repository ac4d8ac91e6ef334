"""Bad input is refused at the edge, with a typed error naming the field, and nothing reaches Temporal."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from conveyor import InvalidJobError, JobNotFound, Jobs
from conveyor.client import MAX_PAYLOAD_BYTES

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
