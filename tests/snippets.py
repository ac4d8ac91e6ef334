"""Code blocks of the README and the docs, read as a reader sees them: which run, which are fragments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(?:<!-- (?P<note>[^>]*) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)\n```", re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    """One fenced block: where it is, its language, its text, and the comment just above it, if any."""

    page: Path
    line: int
    lang: str
    body: str
    note: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    """Every fenced block of `page`, in order."""
    text = page.read_text()
    return [
        Snippet(page, text.count("\n", 0, m.start("body")), m["lang"], m["body"], (m["note"] or "").strip())
        for m in BLOCK.finditer(text)
    ]


def block(page: Path, starting: str) -> str:
    """The body of the block on `page` whose first line starts with `starting`."""
    [found] = [s.body for s in snippets(page) if s.body.startswith(starting)]
    return found


SKIP_NOTES = ("not run", "run by ")
"""A block whose comment starts so is a fragment (or is run by the test it names), not a script to run here."""


SHELL_LANGS = ("console", "bash", "sh", "shell", "")
"""Blocks a reader would paste into a shell (an untagged block included): each is a console session that runs, or
says why not. Listings that are no commands are tagged `text`."""


def runnable(snippet: Snippet) -> bool:
    """Python blocks and console sessions run, unless their comment says otherwise."""
    return snippet.lang in ("python", "console") and not snippet.note.startswith(SKIP_NOTES)


def session(body: str) -> list[tuple[str, str]]:
    """A console block as (command, expected output) pairs: `$ ` lines are commands (a line ending in `\\` goes on
    in the next, as in a shell), the lines after them output."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps and not steps[-1][1] and steps[-1][0].endswith("\\"):
            steps[-1] = (f"{steps[-1][0]}\n{line}", [])
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def matches(expected: str, actual: str) -> bool:
    """`actual` is `expected`, where `...` in `expected` stands for any text (also across lines)."""
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    shown = "\n".join(line.rstrip() for line in actual.splitlines()).rstrip("\n")  # a terminal shows no \r
    return re.fullmatch(pattern, shown, re.DOTALL) is not None
