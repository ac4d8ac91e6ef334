"""The front door stays true: CI runs the README's test command, and the docs site builds strictly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from docs.gen.hooks import fill

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"# 2\. Test it.*\n(.+)\n", README)
    assert command is not None
    assert command[1].strip() in (ROOT / ".ci" / "run").read_text()


def test_docs_build_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: a broken link, a missing page or an unknown generated section fails it."""
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    settings = (tmp_path / "site" / "reference" / "settings" / "index.html").read_text()
    assert "CONVEYOR_SMTP_PORT" in settings and "CONVEYOR_TEMPORAL_ADDRESS" in settings


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The strictness the build relies on is real: a page linking to a page that does not exist fails it."""
    config = (
        (ROOT / "mkdocs.yml")
        .read_text()
        .replace("docs_dir: docs", f"docs_dir: {tmp_path / 'docs'}")
        .replace("- docs/gen/hooks.py", f"- {ROOT / 'docs/gen/hooks.py'}")
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "adding-a-kind.md").write_text("[gone](no-such-page.md)\n")
    (tmp_path / "mkdocs.yml").write_text(config.split("\nnav:")[0] + "\n")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr


def test_an_unknown_generated_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="no-such-table"):
        fill("<!-- generated: no-such-table -->", "page.md")
