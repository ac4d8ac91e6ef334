"""CLI output people can copy: piped (`| cat`, `| grep`) at 80 columns, every id and header comes out whole."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import typer
from rich.console import Console
from rich.live import Live

from contracts.kinds import Shape
from conveyor import JobFailed, Jobs, JobState, Settings
from conveyor.cli import output
from conveyor.cli.app import command as cli_command
from conveyor.cli.app import out as cli_out
from conveyor.cli.jobs import print_status
from conveyor.cli.ops import STATS_COLUMNS, stats_table
from conveyor.operations import JobStats
from conveyor.status import Failure, JobStatus
from tests.cli import BIN, env_for, run
from tests.waiting import eventually


async def piped(settings: Settings, command: str) -> str:
    """`conveyor COMMAND | cat` in a shell with COLUMNS=80, as a script or a pipe to grep would see it."""
    ran = await run(
        "bash", "-c", f"set -o pipefail; {BIN / 'conveyor'} {command} | cat", env=env_for(settings) | {"COLUMNS": "80"}
    )
    assert ran.code == 0, ran.err
    return ran.out


async def test_failed_and_list_print_every_id_whole_through_a_pipe(jobs: Jobs, settings: Settings) -> None:
    handles = [await jobs.email({"to": ["ann@example.com"], "template": "no-such-template"}) for _ in range(2)]
    for handle in handles:
        with pytest.raises(JobFailed):
            await handle.result()
    ids = [h.id for h in handles]
    assert all(len(i) > 35 for i in ids)  # long enough that an 80-column table used to cut them
    await eventually(
        lambda: jobs.list(kind="email", state=JobState.FAILED), lambda rows: {*ids} <= {r.id for r in rows}
    )

    for command in ("failed --kind email", "list --kind email --state failed", "list --kind email"):
        out = await piped(settings, command)
        assert out.splitlines()[0].split() == ["job", "kind", "state", "created", "failure"]
        for job_id in ids:
            [line] = [line for line in out.splitlines() if re.match(rf"{job_id}\s", line)]
            assert "TemplateNotFound: template 'no-such-template' not found" in line, (command, line)

    listed = json.loads(await piped(settings, "list --kind email --state failed --json"))
    by_id = {row["id"]: row for row in listed}
    assert all(by_id[i]["failure"]["type"] == "TemplateNotFound" for i in ids)


async def test_stats_headers_are_whole_through_a_pipe(jobs: Jobs, settings: Settings) -> None:
    out = await piped(settings, "stats")
    assert out.splitlines()[0].split() == ["kind", "queue", *(s.value for s in JobState)]
    assert {line.split()[0] for line in out.splitlines()[1:]} >= {"email", "sms", "report"}
    assert json.loads(await piped(settings, "stats --json"))["counts"].keys() >= {"email", "sms", "report"}


async def test_schedules_list_has_json(jobs: Jobs, settings: Settings) -> None:
    assert isinstance(json.loads(await piped(settings, "schedules list --json")), list)


def test_on_a_narrow_terminal_ids_and_headers_stay_whole(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """On a terminal Rich folds cells to fit; the id column and the headers never fold, and a table whose headers
    cannot all fit is printed as plain lines instead."""
    console = Console(force_terminal=True, width=80, highlight=False, color_system=None)
    monkeypatch.setattr(output, "out", console)
    job_id = "email-9fab7d3ad55e4c1c9a8b7f6e5d4c3b2a"
    output.show_table(("job", "kind", "failure"), [[job_id, "email", "TemplateNotFound: " + "x" * 80]])
    output.show_table(("kind", "queue", *(s.value for s in JobState)), [["broadcast", "conveyor", *"123456789"]])
    printed = capsys.readouterr().out
    assert re.search(rf"│ {job_id} │", printed)
    assert "kind       queue     queued  scheduled  running" in printed and "timed-out" in printed


def test_stats_watch_keeps_headers_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`stats --watch` redraws what `stats` prints: at 80 columns too narrow for the table, whole lines that wrap
    between cells, never a header cut to `terminat…`."""
    console = Console(force_terminal=True, width=80, highlight=False, color_system=None, soft_wrap=True, markup=False)
    monkeypatch.setattr(output, "out", console)
    stats = JobStats(since=datetime.now(UTC), counts={"broadcast": {"conveyor": dict.fromkeys(JobState, 7)}})
    with Live(stats_table(stats), console=console, auto_refresh=False):
        pass
    printed = capsys.readouterr().out
    assert "…" not in printed
    words = printed.split()
    assert [*STATS_COLUMNS, "broadcast"] == [w for w in words if w in (*STATS_COLUMNS, "broadcast")][:12]


BRACKETS = "reason [see docs] end [/x]"
"""Job data that Rich markup would eat: `[see docs]` taken for a style and dropped, `[/x]` a MarkupError."""


def test_job_data_in_brackets_prints_verbatim(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A failure message, a result and a table cell print as the job gave them, through the CLI's own consoles
    (the table's terminal branch included); so does the `failed:` line of a command whose job failed."""
    monkeypatch.setattr(cli_out, "_force_terminal", True)  # the table's terminal branch
    monkeypatch.setattr(cli_out, "_width", 200)
    print_status(
        JobStatus(
            id="email-1", kind="email", shape=Shape.ACTIVITY, workflow="email", state=JobState.FAILED, attempts=1,
            failure=Failure(type="Boom", message=BRACKETS), result={"note": BRACKETS},
            created_at=datetime.now(UTC), ui_url="http://localhost:8233",
        )
    )  # fmt: skip
    output.show_table(("job", "failure"), [["email-1", f"Boom: {BRACKETS}"]])

    @cli_command
    async def fails() -> None:
        raise JobFailed("email-1", "Boom", BRACKETS)

    with pytest.raises(typer.Exit):
        fails()
    printed = capsys.readouterr()
    assert f"failure    Boom: {BRACKETS}" in printed.out
    assert f'result     {{"note": "{BRACKETS}"}}' in printed.out
    assert re.search(rf"│ email-1 │ Boom: {re.escape(BRACKETS)} *│", printed.out)
    assert printed.err == f"failed: Boom: {BRACKETS}\n"
