"""Load: thousands of mixed jobs (email, SMS, small reports) through one `conveyor worker` process. All complete,
`stats()` counts exactly them, and the worker's memory stays bounded (RSS read from /proc before and after).

On a Temporal server of its own (a SQLite file, as `conveyor dev` runs it): `stats()` counts every job of the
server, so only this test's may be there, and 10,000 jobs would bloat the shared in-memory server.
"""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from contracts.kinds import KINDS
from contracts.states import JobState
from conveyor import Jobs, ReportJob, Settings, SmsJob
from conveyor.client import BulkJob, JobHandle
from conveyor.operations import bounded
from tests.conftest import settings_for
from tests.phones import unique_phones
from tests.reliability import figures
from tests.reliability.conftest import Size
from tests.reliability.mail import message_ids, note, recipients
from tests.reliability.processes import own_server, worker_process
from tests.smtp_server import SmtpServer, free_port
from tests.waiting import eventually

RSS_GROWTH_LIMIT_MB = 250
"""Most the worker may grow over the whole load, beyond its size once warm (it starts at ~80 MB)."""


def mixed(n: int, source: Path) -> tuple[list[BulkJob], list[str]]:
    """`n` jobs: 60% email, 30% SMS, 10% small CSV reports; and the email recipients."""
    n_sms, n_report = n * 3 // 10, n // 10
    to = recipients("load", n - n_sms - n_report)
    report = ReportJob(report="csv-file", params={"path": str(source)}, format="csv")
    items = [BulkJob("email", note(address)) for address in to]
    items += [BulkJob("sms", SmsJob(to=phone, body=f"load {i}")) for i, phone in enumerate(unique_phones(n_sms))]
    items += [BulkJob("report", report) for _ in range(n_report)]
    return items, to


async def test_mixed_load_through_one_worker_completes_with_bounded_memory(
    temporal_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path, size: Size
) -> None:
    settings: Settings = settings_for(
        temporal_env, smtp_server, tmp_path, sms_rate_per_second=10_000,
        temporal_address=f"127.0.0.1:{free_port()}", dev_ui_port=free_port(),
    )  # fmt: skip
    source = tmp_path / "small.csv"
    with source.open("w", newline="") as f:
        csv.writer(f).writerows([["n", "label"]] + [[str(i), f"row {i}"] for i in range(20)])
    items, to = mixed(size.load_jobs, source)
    warmup, _ = mixed(20, source)
    async with own_server(settings), worker_process(settings, tmp_path / "worker.log") as worker:
        jobs = await Jobs.connect(settings)
        for h in await jobs.bulk(warmup):
            assert isinstance(h, JobHandle)
            await h.result()
        rss_warm, _ = worker.rss()
        began = time.monotonic()
        handles = [h for h in await jobs.bulk(items) if isinstance(h, JobHandle)]
        assert len(handles) == len(items)
        # A bounded number of result waits: each is a long poll, and the server caps those per namespace.
        results = await asyncio.wait_for(bounded(handles, JobHandle.result, concurrency=100), size.timeout)
        seconds = time.monotonic() - began
        rss_after, rss_peak = worker.rss()

        per_kind = {k: sum(1 for i in items if i.kind == k) for k in ("email", "sms", "report")}
        # The server is this test's own: it holds the warm-up jobs and the load, nothing else.
        expected = {
            k: {"completed": per_kind.get(k, 0) + sum(1 for i in warmup if i.kind == k)}
            for k, kind in KINDS.items()
            if not kind.internal  # housekeeping is not counted by default
        }
        expected = {k: (v if v["completed"] else {}) for k, v in expected.items()}  # kinds not in the mix: none
        stats = await eventually(jobs.stats, lambda s: nonzero(s.by_kind()) == expected, 60)
    mail = message_ids(smtp_server, to)
    figures.record(
        "load (one worker)", jobs=len(items), **per_kind, completed=len(results),
        failed=sum(states[JobState.FAILED] for states in stats.by_kind().values()), lost=len(to) - len(mail),
        jobs_per_s=round(len(items) / seconds, 1), rss_warm_mb=rss_warm // 1024, rss_after_mb=rss_after // 1024,
        rss_peak_mb=rss_peak // 1024,
    )  # fmt: skip
    assert nonzero(stats.by_kind()) == expected
    assert len(mail) == len(to)
    assert (rss_peak - rss_warm) // 1024 < RSS_GROWTH_LIMIT_MB, f"worker grew from {rss_warm} kB to {rss_peak} kB"


def nonzero(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """`counts` without the states nobody is in."""
    return {kind: {state: n for state, n in states.items() if n} for kind, states in counts.items()}
