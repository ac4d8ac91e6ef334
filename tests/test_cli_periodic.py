"""The command line of schedules, broadcasts and events, run as the real `conveyor` executable."""

from __future__ import annotations

import uuid
from pathlib import Path

from conveyor import Jobs, Settings
from tests.cli import conveyor
from tests.smtp_server import SmtpServer


async def test_schedules_apply_is_idempotent_and_list_shows_them(jobs: Jobs, settings: Settings) -> None:
    first = await conveyor(settings, "schedules", "apply")
    assert first.code == 0, first.err
    second = await conveyor(settings, "schedules", "apply")
    assert second.code == 0, second.err
    names = ["daily-jobs-report", "hourly-digest", "weekly-cleanup", "failure-watch"]
    assert sorted(second.out.split()) == sorted([*["unchanged"] * len(names), *names])
    listed = await conveyor(settings, "schedules", "list")
    assert listed.code == 0, listed.err
    assert "hourly-digest  paused" in listed.out and "0 2 * * * UTC" in listed.out and "never ran" in listed.out


async def test_broadcast_command_sends_to_a_static_list(
    jobs: Jobs, settings: Settings, smtp_server: SmtpServer
) -> None:
    a, b = (f"cli-{n}-{uuid.uuid4().hex[:6]}@example.com" for n in "ab")
    sent = await conveyor(settings, "broadcast", "--source", f"static:{a},{b}", "--template", "newsletter",
                          "--var", "title=Launch")  # fmt: skip
    assert sent.code == 0, sent.err
    waited = await conveyor(settings, "wait", sent.out.strip())
    assert waited.code == 0, waited.err
    assert [m["Subject"] for m in smtp_server.to(a) + smtp_server.to(b)] == ["Launch", "Launch"]


async def test_broadcast_and_event_refuse_bad_input_with_exit_2(settings: Settings, tmp_path: Path) -> None:
    bad_template = await conveyor(settings, "broadcast", "--source", "csv:x.csv", "--template", "../etc")
    assert bad_template.code == 2 and "template" in bad_template.err and bad_template.err.count("\n") == 1
    no_email = await conveyor(settings, "event", "user.created", "--user-id", "42")
    assert no_email.code == 2 and "email" in no_email.err
