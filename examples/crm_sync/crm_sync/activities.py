"""The `crm_sync` job: one POST of the customer's record to the CRM (a standalone activity: the activity is the job).

Retries are Temporal's, by the kind's policy row; the job's input is validated by `decode`, so a bad record
from any producer fails at once with `InvalidJob`.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from temporalio import activity

from contracts.errors import JobError, PermanentError, TransientError
from contracts.inputs import any_inputs, decode
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
    @any_inputs
    async def sync(self, *raw: Any) -> CrmSyncResult:
        """Sync one customer; the job id rides along as the CRM's idempotency key."""
        job = decode(raw, CrmSyncJob)
        try:
            status = await asyncio.to_thread(self._post, activity.info().activity_id, job)
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
