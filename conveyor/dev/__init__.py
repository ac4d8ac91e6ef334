"""`conveyor dev`: the embedded stack — Temporal dev server with its web UI, SMTP outbox, worker and HTTP API in
one process tree. It composes the producer side and the worker, so it sits above both (not inside `worker/`)."""
