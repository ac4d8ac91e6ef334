"""`python -m bench crash`: what happens to email jobs when a part breaks mid-run, through Conveyor, Celery and
BullMQ, side by side.

    python -m bench crash                                   # 300 jobs, every fault, 3 repetitions
    python -m bench crash --jobs 100 --reps 1 --outage 10 --wait 60 --faults smtp --out /tmp/crash.json
    python -m bench crash --sides bullmq --out bench/results/crash-bullmq.json

Every job is enqueued before the worker starts (a backlog, the same on both sides); then each fault comes once a
third of the jobs have been delivered:
- `worker`: the worker's whole process group SIGKILLed (as the OOM killer does), a new worker started 2 s later;
- `server`: the broker or server SIGKILLed and started again 2 s later: Conveyor's Temporal dev server on its file
  database (as `conveyor dev` runs it); Celery's Redis without persistence, and with its AOF fsynced every second;
  BullMQ's Redis without persistence;
- `smtp`: the SMTP server gone for `--outage` seconds (connections refused), then back on the same port.

Each run has a fresh stack of its own (`bench/crash_sides.py`); the same email jobs (the `welcome` template, one
recipient each) go to the same kind of SMTP sink, which records the recipient, Message-ID and time of every message
it accepts. Per run: jobs delivered (at least once); missing `--wait` seconds after the fault (5 minutes; the run
ends sooner when every job was delivered); missing for good (missing, less the jobs the broker or server still
holds, which its own recovery will still run: Conveyor's retry policy, Celery's `visibility_timeout` of 1 h,
BullMQ's stalled-job check, read from the broker rather than waited for); duplicates with the same Message-ID (a
receiver can drop them) and with a new one (it cannot); seconds from the fault to the last delivery.

Conveyor's runs go one after another; each repetition's peer runs go alongside them (they idle, waiting out
their 5 minutes). The peers need `bench/peers/setup.sh`; a peer not set up is skipped, saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import crash_sides, peer
from bench.crash_parts import RecordingSink, recipient, until
from bench.crash_sides import Stack
from bench.proc import load_average

RESULTS = Path(__file__).parent / "results" / "crash.json"
"""The committed run the docs' crash table ("Coming from Celery") is generated from."""
RESTART_AFTER = 2.0
"""Seconds between a kill and the restart, as an orchestrator restarting a crashed container."""
QUIET = 5.0
"""Seconds the sink keeps listening once every job was delivered (and, on Conveyor, every job ended): a copy still
in flight is counted."""
FAULTS = {"worker": "worker SIGKILL", "server": "broker / server SIGKILL", "smtp": "SMTP down"}


@dataclass(frozen=True)
class Run:
    """One run's figures."""

    fault: str
    side: str
    jobs: int
    delivered_at_fault: int
    delivered: int
    missing: int
    """Not delivered `wait_s` after the fault (or when every job was)."""
    missing_for_good: int
    """Missing, and held by neither broker nor server: no recovery will send them."""
    duplicates_same_id: int
    duplicates_new_id: int
    last_delivery_s: float
    """Seconds from the fault to the last accepted message of the run (0 when none came after the fault)."""


def figures(
    sink: RecordingSink, jobs: int, *, side: str, fault: str, at_fault: int, faulted_at: float, held: int
) -> Run:
    """A run's figures from what `sink` accepted; `held`: how many missing jobs the broker or server still holds."""
    wanted = {recipient(i) for i in range(jobs)}
    ours = [(to, mid, at) for to, mid, at in sink.accepted if to in wanted]
    per_job = Counter(to for to, _, _ in ours)
    same = sum(n - 1 for n in Counter((to, mid) for to, mid, _ in ours).values())
    delivered = len(per_job)
    return Run(
        fault=fault,
        side=side,
        jobs=jobs,
        delivered_at_fault=at_fault,
        delivered=delivered,
        missing=jobs - delivered,
        missing_for_good=jobs - delivered - held,
        duplicates_same_id=same,
        duplicates_new_id=sum(per_job.values()) - delivered - same,
        last_delivery_s=max(0.0, round(max((at for _, _, at in ours), default=faulted_at) - faulted_at, 1)),
    )


async def inject(fault: str, stack: Stack, outage: float) -> None:
    """Break one part of `stack` and bring it back."""
    if fault == "smtp":
        stack.sink.down()
        await asyncio.sleep(outage)  # the outage's length, not a wait for a result
        stack.sink.up()
        return
    part = stack.worker if fault == "worker" else stack.server
    part.kill()
    await asyncio.sleep(RESTART_AFTER)  # the scenario's restart delay, not a wait for a result
    part.start()
    if fault == "server":
        await stack.server_back()


async def one_run(
    stack_of: Callable[[], AbstractAsyncContextManager[Stack]], fault: str, outage: float, wait: float
) -> Run:
    async with stack_of() as stack:
        sink: RecordingSink = stack.sink
        await stack.enqueue()
        await stack.start_worker()
        if not await until(lambda: sink.delivered(stack.jobs) >= stack.jobs // 3, wait):
            raise TimeoutError(f"{stack.side}: {sink.delivered(stack.jobs)} of {stack.jobs} delivered after {wait} s")
        at_fault, faulted_at = sink.delivered(stack.jobs), time.monotonic()
        await inject(fault, stack, outage)

        def left() -> float:
            return faulted_at + wait - time.monotonic()

        if await until(lambda: sink.delivered(stack.jobs) >= stack.jobs, left()):
            await stack.settle(max(left(), 0))
            await asyncio.sleep(max(min(QUIET, left()), 0))  # a copy still in flight is counted
        missing = {i for i in range(stack.jobs) if recipient(i) not in {to for to, _, _ in sink.accepted}}
        held = await stack.held(missing) if missing else 0
        return figures(
            sink, stack.jobs, side=stack.side, fault=FAULTS[fault], at_fault=at_fault, faulted_at=faulted_at, held=held
        )


def shown(values: list[float], unit: str = "") -> str:
    """The median, and the min-max when they differ."""
    values = sorted(values)
    spread = f" ({values[0]:g}-{values[-1]:g})" if values[0] != values[-1] else ""
    return f"{values[len(values) // 2]:g}{unit}{spread}"


def table(runs: list[Run]) -> str:
    """One row per fault and side: the median over its runs, and the min-max when they differ."""
    lines = [
        "| fault | side | delivered | missing after 5 min | missing for good | duplicates, same Message-ID "
        "| duplicates, new Message-ID | fault → last delivery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fault, side in dict.fromkeys((r.fault, r.side) for r in runs):
        ours = [r for r in runs if (r.fault, r.side) == (fault, side)]
        lines.append(
            f"| {fault} | {side} | {shown([r.delivered for r in ours])} of {ours[0].jobs} "
            f"| {shown([r.missing for r in ours])} | {shown([r.missing_for_good for r in ours])} "
            f"| {shown([r.duplicates_same_id for r in ours])} | {shown([r.duplicates_new_id for r in ours])} "
            f"| {shown([max(0.0, r.last_delivery_s) for r in ours], ' s')} |"
        )
    return "\n".join(lines)


SIDES = ("conveyor", "celery", "bullmq")


def peer_stacks(sides: list[str], jobs: int, fault: str) -> list[Callable[[], AbstractAsyncContextManager[Stack]]]:
    """The peers' stacks for `fault`: Celery's Redis with AOF as well as without persistence when Redis is what is
    killed; BullMQ's Redis without persistence."""
    stacks: list[Callable[[], AbstractAsyncContextManager[Stack]]] = []
    if "celery" in sides:
        stacks += [
            functools.partial(crash_sides.celery, jobs, aof)
            for aof in ([False, True] if fault == "server" else [False])
        ]
    if "bullmq" in sides:
        stacks.append(functools.partial(crash_sides.bullmq, jobs))
    return stacks


async def run(jobs: int, reps: int, sides: list[str], faults: list[str], outage: float, wait: float) -> list[Run]:
    """Every repetition of every fault on every side asked for."""
    runs: list[Run] = []
    for _ in range(reps):
        alongside = [
            asyncio.create_task(one_run(stack, fault, outage, wait))
            for fault in faults
            for stack in peer_stacks(sides, jobs, fault)
        ]
        for fault in faults if "conveyor" in sides else []:
            runs.append(await one_run(lambda: crash_sides.conveyor(jobs), fault, outage, wait))
        runs += await asyncio.gather(*alongside)
    order = {f: n for n, f in enumerate(FAULTS.values())}
    return sorted(runs, key=lambda r: (order[r.fault], r.side != "Conveyor", r.side))


def runnable(asked: list[str]) -> tuple[list[str], dict[str, str]]:
    """The sides asked for that can run here, and why each other one cannot."""
    why = {"celery": peer.celery_missing(), "bullmq": peer.missing()}
    skipped = {side: reason for side, reason in why.items() if side in asked and reason}
    return [side for side in asked if side not in skipped], skipped


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench crash", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="email jobs per run (default 300)")
    parser.add_argument("--reps", type=int, default=3, help="runs per fault and side (default 3)")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES), help="default: all")
    parser.add_argument("--faults", nargs="+", choices=list(FAULTS), default=list(FAULTS), help="default: all")
    parser.add_argument("--outage", type=float, default=60, help="seconds the SMTP server is down (default 60)")
    parser.add_argument("--wait", type=float, default=300, help="seconds after the fault to count the missing")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    load_before = load_average()
    sides, skipped = runnable(args.sides)
    runs = asyncio.run(run(args.jobs, args.reps, sides, args.faults, args.outage, args.wait))
    print(table(runs))
    for side, reason in skipped.items():
        print(f"\n{side} not run: {reason}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count()},
                "load_average": {"before": load_before, "after": load_average()},
                "jobs": args.jobs,
                "reps": args.reps,
                "wait_s": args.wait,
                "outage_s": args.outage,
                "restart_after_s": RESTART_AFTER,
                "skipped": skipped,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
    )
    print(f"results: {args.out}", file=sys.stderr)
