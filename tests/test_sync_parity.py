"""`SyncJobs` offers every operation `Jobs` does: its methods are listed by hand, so a new one must not go missing."""

from __future__ import annotations

import inspect

from conveyor import Jobs, SyncJobs

ASYNC_ONLY = {"connect", "standalone_activities"}
"""`SyncJobs(settings)` connects itself; `standalone_activities` is the client's probe of the server, not an
operation."""


def test_sync_jobs_has_every_public_method_of_jobs() -> None:
    public = {name for name, member in inspect.getmembers(Jobs, callable) if not name.startswith("_")}
    missing = sorted(public - ASYNC_ONLY - {name for name in dir(SyncJobs) if callable(getattr(SyncJobs, name))})
    assert not missing, f"Jobs methods without a SyncJobs twin: {missing}"
