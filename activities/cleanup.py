"""The maintenance job's activities: purge stored reports and dev outbox files past their retention.

Deleting is idempotent (a file already gone counts as done), so the job's retries are safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from temporalio import activity

from activities.storage import Storage, purge_files
from contracts.cleanup import PurgeInput


class CleanupActivities:
    """Purges files past retention. Built by the worker with its storage, outbox directory and default retention."""

    def __init__(self, storage: Storage, outbox_dir: Path, retention_days: int) -> None:
        self.storage = storage
        self.outbox_dir = outbox_dir
        self.retention_days = retention_days

    def cutoff(self, request: PurgeInput) -> datetime:
        """Files last written before this time are past retention."""
        return request.now - timedelta(days=request.retention_days or self.retention_days)

    @activity.defn(name="purge_reports")
    async def purge_reports(self, request: PurgeInput) -> int:
        """Delete stored reports past retention; returns how many."""
        return await self.storage.purge_older_than(self.cutoff(request))

    @activity.defn(name="purge_outbox")
    async def purge_outbox(self, request: PurgeInput) -> int:
        """Delete the dev outbox's `.eml` files past retention; returns how many."""
        return purge_files(self.outbox_dir.glob("*.eml"), self.cutoff(request))
