"""The README stays true to the code: every setting is in its table, and CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

from conveyor.settings import Settings

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `(CONVEYOR_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    assert documented == {f"CONVEYOR_{name.upper()}" for name in Settings.model_fields}


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"# 2\. Test it.*\n(.+)\n", README)
    assert command is not None
    assert command[1].strip() in (ROOT / ".ci" / "run").read_text()
