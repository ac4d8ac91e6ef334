"""The `crm_sync` job: one POST of the customer's record to the CRM (a standalone activity: the activity is the job).

Retries are Temporal's, by the kind's policy row; the job's input is validated by `job_input`, so a bad record
from any producer fails at once with `InvalidJob`.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from temporalio import activity

from activities.job_input import job_input, running_job_id
from contracts.errors import JobError, PermanentError, TransientError
from crm_sync.contract import CrmSyncJob, CrmSyncResult


class CrmRejected(PermanentError):
    """The CRM refused the record (a 4xx answer): retrying cannot help."""


class CrmUnavailable(TransientError):
    """The CRM could not be reached or answered 5xx."""


class CrmActivities:
    """Talks to the CRM at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    @activity.defn(name="crm_sync")
    async def sync(self, *args: Any) -> CrmSyncResult:
        """Sync one customer; the job id rides along as the CRM's idempotency key."""
        job = job_input(args, CrmSyncJob)
        try:
            status = await asyncio.to_thread(self._post, running_job_id(), job)
        except JobError as e:
            raise e.to_application_error() from None
        return CrmSyncResult(customer_id=job.customer_id, status=status)

    def _post(self, key: str, job: CrmSyncJob) -> int:
        body = json.dumps(job.model_dump(mode="json")).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "Idempotency-Key": key}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:
                raise CrmRejected(f"the CRM refused customer {job.customer_id}: HTTP {e.code}") from None
            raise CrmUnavailable(f"the CRM answered HTTP {e.code}") from None
        except OSError as e:
            raise CrmUnavailable(f"the CRM is unreachable: {e}") from None
