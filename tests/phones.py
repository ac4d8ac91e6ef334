"""Phone numbers no other test of this run uses, so what moto or an outbox recorded for one is that test's alone.

Numbered, not random: random numbers from a pool of 10,000 collided in about one run in 200 at CI size (and once
pytest-randomly reseeds `random` before every test, every test would draw the same ones).
"""

from __future__ import annotations

import itertools

AREAS = ("202", "212", "303", "312", "415", "503", "617", "702", "713", "808")
"""US area codes whose 555-xxxx numbers all validate: 100,000 numbers in all."""

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
