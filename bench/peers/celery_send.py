"""The Celery peer's producer: enqueues the jobs and waits for their results, as `bullmq_send.mjs` does.

    REDIS_PORT=38001 SMTP_PORT=38025 python celery_send.py email COUNT SEQUENTIAL
    REDIS_PORT=38001 SMTP_PORT=38025 python celery_send.py broadcast COUNT
    REDIS_PORT=38001 SMTP_PORT=38025 python celery_send.py enqueue COUNT   # `python -m bench crash`: a backlog

Waits for one warm-up job first (not in `enqueue` mode: no worker runs yet), so the worker's start-up is not timed
(as on Conveyor's side). Prints
{"seconds": ..., "sent": ..., "latencies_ms": [...]}: `seconds` from the first enqueue to the last result,
`latencies_ms` enqueue → result of jobs sent one after another.
"""

from __future__ import annotations

import json
import sys
import time

from celery import group
from celery_app import send_batch, send_email

BATCH = 100
"""Recipients per broadcast task, as Conveyor's default batch."""


def job(i: int) -> tuple[str, str, dict[str, str]]:
    return f"reader{i}@example.com", "welcome", {"name": f"Reader {i}"}


def main() -> None:
    mode, count = sys.argv[1], int(sys.argv[2])
    sequential = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if mode == "enqueue":  # the crash scenario: a backlog before the worker starts; the sink tells what arrived
        for i in range(count):
            send_email.delay(*job(i))
        print(json.dumps({"sent": count}))
        return
    send_email.delay(*job(-1)).get(timeout=60)  # warm-up: the worker is up and connected
    began = time.perf_counter()
    if mode == "email":
        results = [send_email.delay(*job(i)) for i in range(count)]
        sent = sum(1 for r in results if r.get(timeout=600))
    else:
        readers = [{"to": f"reader{i}@example.com", "context": {"name": f"Reader {i}"}} for i in range(count)]
        batches = group(send_batch.s(readers[i : i + BATCH], "newsletter") for i in range(0, count, BATCH))
        sent = sum(batches.apply_async().get(timeout=600))
    seconds = time.perf_counter() - began
    latencies = []
    for i in range(sequential):
        start = time.perf_counter()
        send_email.delay(*job(count + i)).get(timeout=60)
        latencies.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"seconds": seconds, "sent": sent + sequential, "latencies_ms": latencies}))


if __name__ == "__main__":
    main()
