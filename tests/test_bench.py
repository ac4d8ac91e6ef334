"""`python -m bench --quick` (CI's smoke run of the benchmark) produces its table and JSON, every case present.

Speed is the full benchmark's business; this only holds that every case still runs end to end and reports.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import PARTIAL_RESULTS, RESULTS, results_path
from bench.crash import figures
from bench.crash_parts import RecordingSink

ROOT = Path(__file__).parent.parent
CASES = [
    "email jobs/s (",
    "email jobs/s vs raw standalone activity",
    "enqueue → SMTP accepted p50 (",
    "enqueue → SMTP accepted p50 vs raw standalone",
    "enqueue → SMTP accepted p99 (",
    "enqueue → SMTP accepted p99 vs raw standalone",
    "SMS jobs/s (",
    "SMS jobs/s vs raw standalone activity",
    "enqueue → SMS accepted p50 (",
    "enqueue → SMS accepted p50 vs raw standalone",
    "enqueue → SMS accepted p99 (",
    "enqueue → SMS accepted p99 vs raw standalone",
    "@job jobs/s vs raw standalone activity",
    "@job .enqueue() sync p50 vs Jobs.enqueue",
    "peer: email jobs/s vs Celery",
    "peer: enqueue → SMTP accepted p50 vs Celery",
    "worker RSS idle",
    "worker peak RSS over",
    "broadcast emails/s",
    "peer: broadcast vs BullMQ",
    "peer: broadcast vs Celery",
    "-row PDF render",
    "-row PDF peak RSS",
    "bulk enqueue",
    "email template render, per render",
    "`conveyor dev` start → job accepted",
    "6000x4000 JPEGs -> 3 thumbnails, one batch job",
    "6000x4000 JPEGs -> 3 thumbnails, one job per image",
    "6000x4000 JPEGs -> 3 thumbnails: batch vs Pillow",
    "image worker peak RSS",
    "-row PostgreSQL export, CSV",
    "-row PostgreSQL export, XLSX",
    "-row PostgreSQL export, peak RSS",
    "PostgreSQL export, peak RSS from",
    "jobs page overview,",
    "per-key-limited jobs/s, distinct keys",
    "per-key-limited hand-overs/s, one key at limit 1",
    "Django tasks/s end to end (",
    "seq.) vs @job sync",  # Django's task.enqueue(), held to the same job's sync enqueue
    "seq.) vs async",  # and to its async one
    "Django task.aenqueue() tasks/s (",
    "tenant B p50 wait behind a",
]


def test_quick_bench_reports_every_case(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    ran = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,  # a guard against a hang, not a speed bound: 116 s measured here under load 10+
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    table = [line for line in ran.stdout.splitlines() if line.startswith("| ")]
    assert table[0].split("|")[1].strip() == "case"
    for case in CASES:
        assert any(case in line for line in table), f"no row for {case!r} in:\n{ran.stdout}"
    results = json.loads(out.read_text())
    assert results["quick"] is True
    assert len(results["load_average"]["before"]) == 3
    rows = {r["case"]: r for r in results["rows"]}
    for case in CASES:
        (row,) = [r for name, r in rows.items() if case in name]
        assert row["verdict"] == "n/a"  # quick mode judges nothing about speed
        assert all(isinstance(v, float) and v > 0 for v in row["conveyor"]["values"]), row
        if row["baseline"] is not None:
            assert all(isinstance(v, float) and v > 0 for v in row["baseline"]["values"]), row
            assert isinstance(row["ratio"], float)
    assert re.search(r"load average \d+\.\d+", ran.stdout)
    assert "- Celery: acks_late" in ran.stdout, "the table says what each side guarantees on a crash"


def test_a_quick_run_never_replaces_the_committed_full_results() -> None:
    """The docs' performance table is generated from `bench/results/latest.json`: a quick run (small sizes, no
    verdicts) writes elsewhere by default, and is refused, before running anything, when pointed at it."""
    committed = RESULTS.read_bytes()
    assert json.loads(committed)["quick"] is False, "the committed results are a full run"
    assert results_path(None, full=False) == PARTIAL_RESULTS != RESULTS
    assert results_path(None, full=True) == RESULTS
    ran = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", "bench/results/latest.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "must not replace the full results" in ran.stderr, ran.stderr
    assert RESULTS.read_bytes() == committed


def test_the_crash_figures_tell_a_resent_message_from_a_new_one() -> None:
    """`python -m bench crash` counts a job by its recipient: a second copy with the first's Message-ID is a
    duplicate a receiver can drop, one with a new Message-ID is not; a job whose email never came is missing, and
    missing for good unless its broker or server still holds it."""
    sink = RecordingSink()
    sink.accepted = [
        ("reader0@example.com", b"<a@x>", 10.0),
        ("reader0@example.com", b"<a@x>", 11.0),
        ("reader1@example.com", b"<b@x>", 12.0),
        ("reader1@example.com", b"<c@x>", 14.5),
        ("reader-1@example.com", b"<warm-up@x>", 9.0),
    ]
    run = figures(sink, 4, side="side", fault="worker SIGKILL", at_fault=1, faulted_at=10.5, held=1)
    assert (run.delivered, run.missing, run.missing_for_good) == (2, 2, 1)
    assert (run.duplicates_same_id, run.duplicates_new_id) == (1, 1)
    assert run.last_delivery_s == 4.0


def test_the_crash_sink_refuses_while_down_and_accepts_once_back() -> None:
    """The SMTP outage of `python -m bench crash`: while the sink is down a sender's connection is refused; once up
    again, on the same port, messages are recorded."""
    with RecordingSink() as sink:
        sink.down()
        with pytest.raises(ConnectionRefusedError):
            smtplib.SMTP("127.0.0.1", sink.port, timeout=5)
        sink.up()
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=5) as smtp:
            smtp.sendmail("b@example.com", ["reader0@example.com"], b"Message-ID: <m@x>\r\n\r\nhi\r\n")
    assert [(to, mid) for to, mid, _ in sink.accepted] == [("reader0@example.com", b"<m@x>")]
