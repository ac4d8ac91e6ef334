"""The front door stays true: CI runs the README's test command, and the docs site builds strictly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.dev.stack import banner
from conveyor.settings import Settings
from docs.gen.hooks import GENERATORS, fill
from docs.gen.references import duration
from docs.gen.results import crash_table, performance_table, reliability_table
from tests.snippets import session, snippets
from workflows.policies import POLICIES

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


def test_every_generated_reference_shows_its_source() -> None:
    """An empty or broken generator fails here, not only the settings one: each section shows real content of what
    it is generated from (a command's option, a route, a policy row's values)."""
    email = POLICIES["email"]
    expected = {
        "settings": ["CONVEYOR_SMTP_PORT", "CONVEYOR_TEMPORAL_ADDRESS"],
        "cli": ["--all-failed", "--from-csv"],
        "http": ["/jobs/{job_id}/retry", "/jobs/broadcast"],
        "policies": [
            "| `broadcast-send` |",
            f"| `email` | {duration(email.attempt_timeout)} | {duration(email.heartbeat_timeout)} |",
            "`RecipientRejected`",
        ],
    }
    assert {
        *expected,
        "performance",
        "reliability",
        "celery-peer",
        "crashes",
        "crash-bench",
        "crash-bench-bullmq",
    } == GENERATORS.keys()
    for name, shown in expected.items():
        section = fill(f"<!-- generated: {name} -->", "page.md")
        missing = [text for text in shown if text not in section]
        assert not missing, f"the {name} section lacks {missing}:\n{section[:2000]}"


def test_measured_tables_show_the_latest_run(tmp_path: Path) -> None:
    """The performance and reliability sections show the figures of their latest.json, each miss of a target named
    under the table; without the file they say it was not measured."""
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"date": "2026-12-03", "quick": False, "rows": [
        {"case": "bulk enqueue (10,000 jobs, 50 at a time)", "unit": "/s", "conveyor": {"values": [156.4, 186.7],
         "median": 186.7}, "baseline": {"values": [247.0], "median": 247.0}, "baseline_name": "raw start_workflow",
         "ratio": 0.76, "target": "≥ 0.9x", "verdict": "FAIL"},
        {"case": "broadcast emails/s (10,000 recipients)", "unit": "/s", "conveyor": {"values": [1164.4],
         "median": 1164.4}, "target": "≥ 400/s", "verdict": "PASS"},
    ]}))  # fmt: skip
    performance = performance_table(bench, "bench.json")
    assert "| bulk enqueue (10,000 jobs, 50 at a time) | 187 (156-187) /s | 247 /s raw start_workflow | 0.76x |" in (
        performance
    )
    assert "| 1,164 /s |" in performance and "| **miss** |" in performance and "| pass |" in performance
    assert "Targets met: 1 of 2. Missed: bulk enqueue (10,000 jobs, 50 at a time)." in performance
    one_peer = performance_table(bench, "bench.json", against="raw")
    assert "bulk enqueue" in one_peer and "broadcast" not in one_peer, "only the rows against that baseline"

    reliability = tmp_path / "reliability.json"
    reliability.write_text(json.dumps({"size": "ci", "scenarios": {"worker crash": {"lost": 0, "delivered": 500},
                                                                     "load": {"lost": 0}}}))  # fmt: skip
    assert "| worker crash | lost 0, delivered 500 |" in reliability_table(reliability, "reliability.json")
    assert "| load |" not in reliability_table(reliability, "reliability.json", scenarios=("worker",))
    assert "Not measured in this build" in performance_table(tmp_path / "absent.json", "absent.json")

    crash = tmp_path / "crash.json"
    run = {"fault": "worker SIGKILL", "jobs": 300, "delivered_at_fault": 100, "duplicates_new_id": 0}
    crash.write_text(json.dumps({"date": "2026-12-07", "jobs": 300, "wait_s": 300, "outage_s": 60,
                                 "restart_after_s": 2.0, "runs": [
        run | {"side": "Conveyor", "delivered": 300, "missing": 0, "missing_for_good": 0, "duplicates_same_id": 4,
               "last_delivery_s": 13.8},
        run | {"side": "Celery", "delivered": 298, "missing": 2, "missing_for_good": 0, "duplicates_same_id": 0,
               "last_delivery_s": 8.1},
    ]}))  # fmt: skip
    shown = crash_table(crash, "crash.json")
    assert "| worker SIGKILL | Conveyor | 300 of 300 | 0 | 0 | 4 | 0 | 13.8 s |" in shown
    assert "| worker SIGKILL | Celery | 298 of 300 | 2 | 0 | 0 |" in shown and "300 s after the fault" in shown
    assert "Not measured in this build" in crash_table(tmp_path / "absent.json", "absent.json")


def test_the_readme_shows_the_banner_conveyor_dev_prints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README's `conveyor dev` banner is what `conveyor dev` prints on the default settings (the API key aside:
    it is made for each run)."""
    for name in [n for n in os.environ if n.startswith("CONVEYOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env file to read settings from
    [shown] = re.findall(r"```text\n(Conveyor dev stack is up:\n.*?)\n```", README, re.DOTALL)
    key = re.search(r" key (\S+)", shown)
    assert key is not None, shown
    lines = shown.splitlines()
    assert lines == banner(Settings(), key[1]).splitlines()[: len(lines)]


def test_the_tour_leaves_a_fresh_clones_git_status_clean(tmp_path: Path) -> None:
    """What the README's tour writes in the clone — its `templates/launch`, `conveyor dev`'s `.conveyor/` — is
    ignored by the repository's own .gitignore: `git status` after the tour shows nothing to commit."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (tmp_path / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", ".gitignore"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], cwd=tmp_path, check=True)
    writes = [
        command
        for snippet in snippets(ROOT / "README.md")
        if snippet.lang == "console"
        for command, _ in session(snippet.body)
        if command.startswith("mkdir ") or " > " in command
    ]
    assert any("templates/" in command for command in writes), writes
    for command in writes:
        subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    (tmp_path / ".conveyor").mkdir(exist_ok=True)
    (tmp_path / ".conveyor" / "temporal.db").write_bytes(b"")  # what `conveyor dev` keeps
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert status.stdout == "", status.stdout


REPORT = re.compile(r"\b(?:celery|flower|bullmq)#\d+")
CITED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_each_celery_report_on_the_docs_page_names_the_test_that_holds_it() -> None:
    """ "Coming from Celery" answers each failure Celery users report with a test: every test it cites exists, and
    the first test of each row names, in its docstring, every report the row answers (so a reader of the suite
    finds the report, and a renamed test fails here, not silently in the docs)."""
    page = (ROOT / "docs" / "coming-from-celery.md").read_text()
    rows = [line for line in page.splitlines() if CITED_TEST.search(line)]
    assert len(rows) >= 6, "the page's table of reports and tests"
    for row in rows:
        cited = CITED_TEST.findall(row)
        for path, name in cited:
            assert re.search(rf"\n(?:async )?def {name}\(", (ROOT / path).read_text()), f"{path}::{name} is gone"
        path, name = cited[0]
        source = (ROOT / path).read_text()
        body = source[source.index(f"def {name}(") :]
        docstring = body[: body.index('"""', body.index('"""') + 3)]
        missing = [r for r in REPORT.findall(row.split("|")[1]) if r.split("#")[1] not in docstring]
        assert not missing, f"{path}::{name} does not name {missing}"
