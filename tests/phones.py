"""Phones for SMS tests: numbers no other test of this run uses (so what moto or an outbox recorded for one is
that test's alone), settings that send through SNS at the moto server, and what moto's SNS recorded.

Numbered, not random: random numbers from a pool of 10,000 collided in about one run in 200 at CI size (and once
pytest-randomly reseeds `random` before every test, every test would draw the same ones).
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from conveyor import Settings
from tests.conftest import settings_for
from tests.smtp_server import SmtpServer

AREAS = ("206", "212", "305", "312", "415", "503", "617", "702", "713", "808")
"""US area codes whose 555-xxxx numbers all validate (100,000 numbers); not 202, which tests write by hand."""

_issued = itertools.count()


def unique_phone() -> str:
    """A US number in E.164 (`+1AAA555NNNN`) that no other call in this process returned."""
    n = next(_issued)
    if n >= 10_000 * len(AREAS):
        raise RuntimeError("tests/phones.py ran out of numbers: add area codes")
    return f"+1{AREAS[n // 10_000]}555{n % 10_000:04d}"


def unique_phones(count: int) -> list[str]:
    """`count` numbers no other call returned."""
    return [unique_phone() for _ in range(count)]


def sns_settings(env: WorkflowEnvironment, smtp: SmtpServer, tmp: Path, moto: str, **overrides: Any) -> Settings:
    """Settings sending SMS through SNS at the moto server."""
    return settings_for(
        env, smtp, tmp, sms_provider="sns", sns_endpoint_url=moto, aws_access_key_id="testing",
        aws_secret_access_key="testing", **overrides,
    )  # fmt: skip


def sent_by_sns(moto: str, number: str) -> list[dict[str, str]]:
    """The SMS moto's SNS accepted for `number`, read back through its inspection API."""
    with urllib.request.urlopen(f"{moto}/moto-api/data.json") as reply:
        return [m for m in json.load(reply)["sns"]["SMS"] if m["phone_number"] == number]
