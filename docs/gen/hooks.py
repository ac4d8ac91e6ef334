"""The mkdocs hook (`hooks:` in mkdocs.yml) that fills every `<!-- generated: NAME -->` marker at build time,
and serves the README as the site's home page, so the front door exists once.

An unknown marker is an error, never an empty section: `mkdocs build --strict` then fails.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
README_LINK = re.compile(r"\]\(docs/")


def _settings() -> str:
    from docs.gen.references import settings_table

    return settings_table()


def _cli() -> str:
    from conveyor.cli import app
    from docs.gen.references import cli_reference

    return cli_reference(app)


def _http() -> str:
    from conveyor.http.app import create_app
    from conveyor.settings import Settings
    from docs.gen.references import http_reference

    return http_reference(create_app(Settings(api_keys="docs-build")).openapi())


def _policies() -> str:
    from docs.gen.references import policies_table
    from workflows.policies import POLICIES

    return policies_table(POLICIES)


def _performance() -> str:
    from docs.gen.results import performance_table

    return performance_table(ROOT / "bench/results/latest.json", "bench/results/latest.json")


def _reliability() -> str:
    from docs.gen.results import reliability_table

    return reliability_table(ROOT / "tests/reliability/results/latest.json", "tests/reliability/results/latest.json")


def _celery_peer() -> str:
    from docs.gen.results import performance_table

    return performance_table(ROOT / "bench/results/latest.json", "bench/results/latest.json", against="Celery")


def _crashes() -> str:
    from docs.gen.results import reliability_table

    return reliability_table(
        ROOT / "tests/reliability/results/latest.json",
        "tests/reliability/results/latest.json",
        scenarios=("worker crash", "server crash", "SMTP down"),
    )


def _crash_bench() -> str:
    from docs.gen.results import crash_table

    return crash_table(ROOT / "bench/results/crash.json", "bench/results/crash.json")


def _crash_bench_bullmq() -> str:
    from docs.gen.results import crash_table

    return crash_table(
        ROOT / "bench/results/crash-bullmq.json",
        "bench/results/crash-bullmq.json",
        command="python -m bench crash --sides bullmq --out bench/results/crash-bullmq.json",
    )


GENERATORS: dict[str, Callable[[], str]] = {
    "settings": _settings,
    "cli": _cli,
    "http": _http,
    "policies": _policies,
    "performance": _performance,
    "reliability": _reliability,
    "celery-peer": _celery_peer,
    "crashes": _crashes,
    "crash-bench": _crash_bench,
    "crash-bench-bullmq": _crash_bench_bullmq,
}


def fill(markdown: str, where: str) -> str:
    """`markdown` with every marker replaced by what its generator produces."""
    if (
        str(ROOT) not in sys.path
    ):  # mkdocs loads hooks by path and restores sys.path after; generators import the project
        sys.path.insert(0, str(ROOT))

    def generated(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match[1])
        if generator is None:
            raise ValueError(f"{where}: unknown generated section {match[1]!r}; known: {', '.join(GENERATORS)}")
        return generator()

    return MARKER.sub(generated, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """mkdocs: fill the page's markers; on the home page (the README), turn `docs/x.md` links into `x.md`."""
    if page.file.src_uri == "index.md":
        markdown = README_LINK.sub("](", markdown)
    return fill(markdown, page.file.src_uri)


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """mkdocs: the README is the home page (`index.md`), read from the top of the repository."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, "index.md", abs_src_path=str(ROOT / "README.md")))
    return files
