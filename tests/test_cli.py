"""The `conveyor` command line, run as the real executable against the dev server and the test SMTP server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

from conveyor import Jobs, Settings
from conveyor.client import MAX_PAYLOAD_BYTES
from tests.cli import BIN, conveyor, env_for, run
from tests.phones import unique_phone
from tests.smtp_server import SmtpServer


async def test_send_status_wait(jobs: Jobs, settings: Settings, smtp_server: SmtpServer) -> None:
    sent = await conveyor(settings, "send", "email", "--to", "cli-ann@example.com", "--template", "welcome",
                          "--var", "name=Ann")  # fmt: skip
    assert sent.code == 0, sent.err
    job_id = sent.out.strip()
    assert job_id.startswith("email-")

    waited = await conveyor(settings, "wait", job_id)
    assert waited.code == 0, waited.err
    [msg] = smtp_server.to("cli-ann@example.com")
    assert msg["Subject"] == "Welcome to Conveyor, Ann!"

    shown = await conveyor(settings, "status", job_id, "--json")
    assert shown.code == 0, shown.err
    status = json.loads(shown.out)
    assert status["state"] == "completed" and status["attempts"] == 1 and status["kind"] == "email"
    assert status["shape"] == "activity", "the dev server runs standalone activities: email's default shape"
    assert status["ui_url"].endswith(f"/namespaces/default/activities/{job_id}/{status['run_id']}/details")

    readable = await conveyor(settings, "status", job_id)
    assert "completed" in readable.out and "attempts   1" in readable.out


async def test_failed_job_exits_1_with_reason(jobs: Jobs, settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.fail("cli-gone@example.com", 550)
    sent = await conveyor(settings, "send", "email", "--to", "cli-gone@example.com", "--subject", "x", "--text", "y")
    waited = await conveyor(settings, "wait", sent.out.strip())
    assert waited.code == 1
    assert "RecipientRejected" in waited.err
    shown = await conveyor(settings, "status", sent.out.strip())
    assert "failed" in shown.out and "RecipientRejected" in shown.out


async def test_bad_input_prints_one_line_and_exits_2(jobs: Jobs, settings: Settings) -> None:
    ran = await conveyor(settings, "send", "email", "--to", "not-an-address", "--template", "welcome",
                         "--key", "cli-refused")  # fmt: skip
    assert ran.code == 2
    assert ran.err.strip().count("\n") == 0 and "to.0" in ran.err
    assert ran.out == ""
    missing = await conveyor(settings, "status", "email-cli-refused")
    assert missing.code == 1 and "no job" in missing.err


async def test_a_key_reused_with_other_input_exits_2_and_the_same_input_gets_the_same_job(
    jobs: Jobs, settings: Settings
) -> None:
    """Found by the CLI fuzz at 10,000 examples (two commands drew one `--key` with different bodies): the refusal
    exited 1, the code a script reads as "Temporal unreachable, try again", though resending can never succeed."""
    key = f"cli-key-{uuid.uuid4().hex[:8]}"
    sms = ["send", "sms", "--to", unique_phone(), "--key", key, "--delay", "1d"]  # delayed: nothing is sent
    first = await conveyor(settings, *sms, "--body", "one")
    assert first.code == 0, first.err
    again = await conveyor(settings, *sms, "--body", "one")
    assert (again.code, again.out) == (0, first.out), "the same input: the job the key names"
    other = await conveyor(settings, *sms, "--body", "two")
    assert other.code == 2 and other.out == ""
    assert (
        other.err.strip()
        == f"error: the key is already used by job {first.out.strip()}, enqueued with different input; use a new key"
    )


async def test_bad_duration_and_var_exit_2(jobs: Jobs, settings: Settings) -> None:
    for extra in (["--delay", "soon"], ["--var", "novalue"]):
        ran = await conveyor(settings, "send", "email", "--to", "a@example.com", "--template", "welcome", *extra)
        assert ran.code == 2, ran
        assert ran.err.startswith("error: ")


async def test_unreachable_temporal_is_one_line(settings: Settings) -> None:
    down = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    ran = await conveyor(down, "status", "email-x")
    assert ran.code == 1 and "cannot reach Temporal at 127.0.0.1:1" in ran.err


async def test_delay_and_priority_out_of_range_exit_2_without_a_server(settings: Settings) -> None:
    down = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})  # checked before connecting: no server
    email = ["send", "email", "--to", "a@example.com", "--template", "welcome"]
    broadcast = ["broadcast", "--source", "static:a@example.com", "--template", "welcome"]
    for args, message in (
        ([*email, "--delay", "999999d"], "error: delay must be from 0 to 365 days"),
        ([*broadcast, "--delay", "366d"], "error: delay must be from 0 to 365 days"),
        ([*email, "--priority", "9"], "error: priority must be a whole number from 1 (first) to 5 (last)"),
        (["enqueue", "sms", '{"to": "+12025550143", "body": "x"}', "--priority", "0"], "error: priority must be"),
    ):
        ran = await conveyor(down, *args)
        assert (ran.code, ran.out) == (2, ""), (args, ran)
        assert ran.err.strip().startswith(message) and "cannot reach" not in ran.err


async def test_enqueue_from_stdin_stops_reading_past_the_size_limit(settings: Settings) -> None:
    """Piped 50 MB, `conveyor enqueue -` refuses after reading one byte past the limit, and exits 2 while the
    producer is still writing: it used to read all of it (100 MB cost 370 MB of memory) before refusing."""
    down = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})  # refused before connecting
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "conveyor"), "enqueue", "email", "-", env=env_for(down),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    chunk, total, written = b'{"to": ["a@example.com"], "context": {"x": "' + b"x" * (1 << 20), 50 << 20, 0
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while written < total:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
            written += len(chunk)
    err = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
    assert await asyncio.wait_for(proc.wait(), 60) == 2
    assert err.strip() == (
        f"error: invalid email job: more than {MAX_PAYLOAD_BYTES} bytes of input, over the {MAX_PAYLOAD_BYTES} "
        "limit; store large files and pass their storage key"
    )
    assert written < total, "the command stopped reading: the pipe broke before all of it was written"


async def test_enqueue_from_stdin_takes_a_job_up_to_the_limit(jobs: Jobs, settings: Settings) -> None:
    job = json.dumps({"to": unique_phone(), "body": "from stdin"}).encode()
    ran = await run(str(BIN / "conveyor"), "enqueue", "sms", "-", "--delay", "1d", env=env_for(settings), stdin=job)
    assert ran.code == 0, ran.err
    assert (await jobs.status(ran.out.strip())).kind == "sms"
