"""Every snippet of the README and the docs that is meant to run is run, as pasted, against a real `conveyor dev`:
Python blocks as scripts, console sessions command by command in page order with their printed answers checked.

A block that is a fragment says so in a comment above it (`<!-- not run: why -->`), or names the test that runs it
(`<!-- run by tests/...: how -->`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli import BIN
from tests.dev_stack import dev_env, dev_stack
from tests.snippets import PAGES, ROOT, SHELL_LANGS, Snippet, matches, runnable, session, snippets
from tests.webhook import Webhook
from workflows.policies import POLICIES


@dataclass(frozen=True)
class Stack:
    """A running `conveyor dev`: where it runs, and what a reader's shell there would have."""

    cwd: Path
    env: dict[str, str]
    api_port: str

    def text(self, written: str) -> str:
        """Docs speak of the default API port; this stack has its own."""
        return written.replace("localhost:8000", f"localhost:{self.api_port}")


CRM_PACKAGE = ROOT / "examples" / "crm_sync"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A reader's `conveyor dev`, with the example team jobs of the docs (`crm_sync`) registered as its page says
    (`CONVEYOR_JOBS`), syncing to a CRM stand-in on loopback, and the webhook page's endpoint `acme` declared,
    delivering to a receiver on loopback."""
    cwd = tmp_path_factory.mktemp("reader")
    crm, acme = Webhook(), Webhook()
    crm.start()
    acme.start()
    endpoint = {
        "url": acme.url.get_secret_value(),
        "secrets": ["whsec_" + base64.b64encode(b"docs-example-signing-secret-0001").decode()],
        "events": ["invoice.paid"],
        "allow_internal": True,  # the stand-in receiver is on loopback
    }
    python_path = os.pathsep.join([str(CRM_PACKAGE), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dev_env(cwd / ".conveyor") | {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "COLUMNS": "80",
        "CONVEYOR_JOBS": "crm_sync",
        "PYTHONPATH": python_path,
        "CRM_URL": crm.url.get_secret_value(),
        "CONVEYOR_WEBHOOK_ENDPOINTS": json.dumps({"acme": endpoint}),
    }
    try:
        async with dev_stack(env, cwd=cwd) as banner:
            key = re.search(r"HTTP API .* key (\S+)", banner)
            assert key is not None, banner
            yield Stack(cwd, env | {"KEY": key[1]}, env["CONVEYOR_API_PORT"])
    finally:
        crm.stop()
        acme.stop()


async def shell(stack: Stack, command: str) -> tuple[int, str]:
    """`command` in bash, in the stack's directory: its exit code and its output (stdout, then stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        cwd=stack.cwd,
        env=stack.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    return proc.returncode or 0, (out + err).decode()


FINISHED = "-- snippet finished --"
"""Printed after the snippet's last line (by the runner, not the page): the script's work is done when it shows."""


async def run_python(stack: Stack, code: str) -> tuple[int, str]:
    """`code` as a script file run by this venv's Python, in the stack's directory."""
    script = stack.cwd / "snippet.py"
    script.write_text(f"{code}\nprint({FINISHED!r}, flush=True)\n")
    return await shell(stack, f"{sys.executable} {script}")


def crashed_at_exit(code: int, output: str) -> bool:
    """The Temporal SDK's known crash while the interpreter finalizes, after the script's work is done
    (temporalio/sdk-python#300, about one short client script in seven here; the docs say so): SIGABRT with
    "PyGILState_Release", or (seen once on 2026-12-03) SIGSEGV, in both cases after the runner's line that follows
    the snippet's last. Anything else that kills a snippet is a failure."""
    return code in (-6, 134, -11, 139) and FINISHED in output


async def check(stack: Stack, snippet: Snippet) -> None:
    """Run one snippet; fail naming where it is and what it printed."""
    if snippet.lang == "python":
        code, output = await run_python(stack, snippet.body)
        assert code == 0 or crashed_at_exit(code, output), f"{snippet.where} failed:\n{output}"
        return
    exported = ""  # a reader's shell keeps what `export` set for the session's later commands
    for command, expected in session(stack.text(snippet.body)):
        code, output = await shell(stack, exported + command)
        if command.startswith("export "):
            exported += f"{command}\n"
        assert matches(expected, output), f"{snippet.where}: $ {command}\nexpected:\n{expected}\ngot:\n{output}"
        failing = expected.startswith(("failed:", "error:"))
        assert (code != 0) == failing, f"{snippet.where}: $ {command} exited {code}\n{output}"


RUN_PAGES = [page for page in PAGES if any(runnable(s) for s in snippets(page))]
"""The pages with something to run: a case per page that runs nothing would pass doing nothing."""


@pytest.mark.parametrize(
    "page", RUN_PAGES, ids=lambda p: str(p.relative_to(p.parents[1] if "docs" in p.parts else p.parent))
)
async def test_page_snippets_run(stack: Stack, page: Path) -> None:
    for snippet in filter(runnable, snippets(page)):
        await check(stack, snippet)


async def test_a_broken_snippet_fails(stack: Stack) -> None:
    """The check is real: the README's old top-level `await` fails, and so does a wrong printed answer."""
    broken = Snippet(PAGES[0], 1, "python", "from conveyor import Jobs\n\njobs = await Jobs.connect()\n", "")
    with pytest.raises(AssertionError, match="'await' outside function"):
        await check(stack, broken)
    wrong = Snippet(PAGES[0], 1, "console", "$ conveyor status no-such-job\nno-such-job  email  completed", "")
    with pytest.raises(AssertionError, match="expected"):
        await check(stack, wrong)


REASON = re.compile(r"(?:not run|run by (?P<test>tests/\S+?\.py)\b[^:]*): \S.{4,}")
"""A skipped block's comment: `not run: why`, or `run by tests/<file>.py...: how`, with words after the colon."""


def skip_problem(snippet: Snippet) -> str | None:
    """What is wrong with how `snippet` is skipped (None if it runs, or says why not in words and names a test
    that exists)."""
    if snippet.lang not in ("python", *SHELL_LANGS) or runnable(snippet):
        return None
    reason = REASON.fullmatch(snippet.note)
    if reason is None:
        return f"{snippet.where}: say why it is not run (`not run: why` or `run by tests/....py: how`)"
    if reason["test"] and not (ROOT / reason["test"]).is_file():
        return f"{snippet.where}: {reason['test']} does not exist"
    return None


def test_every_curl_block_runs() -> None:
    """A curl command is pasted as it is written (curl's default form content type included), so every block
    holding one runs against the stack: none may be a fragment."""
    blocks = [s for page in PAGES for s in snippets(page) if re.search(r"^(\$ )?curl ", s.body, re.MULTILINE)]
    assert blocks, "the docs show curl"
    assert [s.where for s in blocks if not runnable(s)] == []


def test_every_python_and_shell_block_runs_or_says_why_not() -> None:
    """No block is skipped silently: a Python or shell block (`bash`, `console`, untagged...) that does not run
    carries its reason, and every page is run or has only blocks that say why they are not."""
    problems = [p for page in PAGES for p in map(skip_problem, snippets(page)) if p]
    assert not problems, "\n".join(problems)
    assert RUN_PAGES, "no page has anything to run"


def test_a_block_skipped_without_a_reason_fails() -> None:
    """The check is real: a bare `not run`, an empty reason, or a test that does not exist is refused."""
    page = PAGES[0]
    for note in ("not run", "not run:", "not run: ", "run by tests/no_such_test.py: the real one"):
        assert skip_problem(Snippet(page, 1, "python", "print(1)", note)), note
    assert skip_problem(Snippet(page, 1, "python", "print(1)", "not run: a fragment of the page above")) is None


def cli_duration(value: timedelta) -> str:
    """A duration as the `temporal` CLI's flags take it: `2m`, `10s`."""
    seconds = int(value.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def test_the_json_contract_starts_email_with_its_policy_row() -> None:
    """The page's `temporal activity start` (run above, so its flags are real ones) carries the `email` row of
    `workflows/policies.py`, not numbers of its own that could drift from it."""
    [command] = [s.body for s in snippets(ROOT / "docs/producing/json-contract.md") if "activity start" in s.body]
    flags = dict(re.findall(r"--([a-z-]+) (\S+)", command))
    row = POLICIES["email"]
    assert row.heartbeat_timeout is not None
    assert {name: flags.get(name) for name in ("start-to-close-timeout", "heartbeat-timeout",
                                               "retry-maximum-attempts", "retry-maximum-interval")} == {
        "start-to-close-timeout": cli_duration(row.attempt_timeout),
        "heartbeat-timeout": cli_duration(row.heartbeat_timeout),
        "retry-maximum-attempts": str(row.max_attempts),
        "retry-maximum-interval": cli_duration(row.max_retry_wait),
    }  # fmt: skip
