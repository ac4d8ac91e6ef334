"""How the property tests (hypothesis in tests/reliability/test_fuzz.py, schemathesis in tests/test_api_schema.py)
draw their examples.

By default they are **seeded**: hypothesis derandomizes (each test's examples follow from its own name), keeps no
example database, and the run header says so, so a red CI run fails the same way on any machine. `--random` (or
`CONVEYOR_PROPERTY_TESTS=random`) explores instead: ten times the examples from a fresh seed, printed in the header
with the command that replays it (`--hypothesis-seed=N`), and a failure prints its `@reproduce_failure` blob.
"""

from __future__ import annotations

import os
import secrets

import pytest
from hypothesis import HealthCheck, settings

EXPLORE = 10
"""How many times more examples a `--random` run draws."""

_random = False


def add_option(parser: pytest.Parser) -> None:
    """`--random`: run the property tests unseeded, with more examples."""
    parser.addoption(
        "--random",
        action="store_true",
        default=os.environ.get("CONVEYOR_PROPERTY_TESTS") == "random",
        help="Property tests: a fresh seed and 10x the examples (default: derandomized, reproducible).",
    )


def configure(config: pytest.Config) -> None:
    """Load the seeded or the random profile; a random run without `--hypothesis-seed` gets one chosen here (before
    hypothesis' own plugin reads the option), so the header can print it."""
    global _random
    _random = bool(config.getoption("--random"))
    # A real server answers each example: too slow for hypothesis' taste, and its timing is no deadline to keep.
    common = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("conveyor-seeded", common, derandomize=True)
    settings.register_profile("conveyor-random", common, derandomize=False, print_blob=True)
    settings.load_profile("conveyor-random" if _random else "conveyor-seeded")
    if _random and config.getoption("hypothesis_seed") is None:
        config.option.hypothesis_seed = str(secrets.randbits(32))


def header(config: pytest.Config) -> str:
    """The run header's line: how this run's examples were drawn, and how to draw them again."""
    if not _random:
        return "property tests: seeded (hypothesis derandomize=True, no example database); --random to explore"
    seed = config.getoption("hypothesis_seed")
    return f"property tests: random, {EXPLORE}x examples, seed {seed} (replay: --random --hypothesis-seed={seed})"


def examples(count: int) -> int:
    """`count` in a seeded run, `EXPLORE` times it in a random one."""
    return count * EXPLORE if _random else count


def mode() -> str:
    """`seeded` or `random`, for the figures a run records."""
    return "random" if _random else "seeded"
