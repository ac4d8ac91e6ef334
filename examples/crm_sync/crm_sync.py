"""A team's own jobs, outside Conveyor's package: sync a customer to the CRM, and note something on its record.

Each job is one decorated function, which is also how producers enqueue it (`crm_sync.enqueue(customer)`). The
worker, the API and the CLI find them through `CONVEYOR_JOBS=crm_sync` (or `conveyor worker --jobs crm_sync`, or
this package's entry point). What the jobs need from outside — the CRM's address and token — comes from
`CrmSettings`, read from `CRM_*` variables (or `.env`), never from `os.environ` inside a job.
"""

from __future__ import annotations

import asyncio
import functools
import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio import workflow

from conveyor import job
from conveyor.team_workflows import JOB_FAILURES, JobWorkflow, Progress


class CrmSettings(BaseSettings):
    """Where the CRM is: `CRM_URL`, and `CRM_TOKEN` (a secret: never logged)."""

    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8090/customers"
    token: SecretStr | None = None


@functools.cache
def crm() -> CrmSettings:
    """The settings, read once per process (on the first job, not at import)."""
    return CrmSettings()


class Customer(BaseModel):
    """One customer's current record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    email: EmailStr
    plan: str = Field("free", max_length=32)


class Synced(BaseModel):
    """What the CRM answered."""

    customer_id: str
    status: int


class CrmRejected(Exception):
    """The CRM refused the record (a 4xx answer): retrying cannot help."""


class CrmUnavailable(Exception):
    """The CRM could not be reached or answered 5xx: retried by the job's policy."""


# The CRM is rate-limited and sometimes down for minutes: back off up to a minute, 8 attempts in all. A refused
# record is `CrmRejected`, never retried.
@job(
    attempts=8,
    timeout="30s",
    max_retry_wait="1m",
    never_retry=(CrmRejected,),
    example={"customer_id": "c1", "email": "ann@example.com", "plan": "pro"},
)
def crm_sync(customer: Customer) -> Synced:
    """Push one customer's record to the CRM (a plain function: the worker runs it in its thread pool)."""
    job.progress("posting")
    return Synced(customer_id=customer.customer_id, status=post(customer.model_dump(mode="json")))


# A note is worth little after a few minutes: 3 quick attempts, then the job fails (and is alerted).
@job(attempts=3, timeout="10s", max_retry_wait="2s", never_retry=(CrmRejected,))
async def crm_note(customer_id: str, note: Annotated[str, Field(max_length=500)]) -> int:
    """Add a note to a customer's record (a coroutine function: it runs on the worker's event loop). The CRM's
    HTTP status is the result."""
    return await asyncio.to_thread(post, {"customer_id": customer_id, "note": note})


class Onboarding(BaseModel):
    """A new customer to onboard: synced now, noted on its record `note_after` later."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer: Customer
    note_after: timedelta = Field(timedelta(days=1), ge=timedelta(0), le=timedelta(days=30))


class Onboarded(BaseModel):
    """What both steps answered."""

    synced: Synced
    noted: int


# Two steps, each under its own job's policy, and a durable timer between them: a worker restarted during the
# day's wait resumes the job where it was.
@job.workflow(example={"customer": {"customer_id": "c1", "email": "ann@example.com"}, "note_after": "PT1H"})
@workflow.defn
class Onboard(JobWorkflow):
    """Onboard a customer: sync its record to the CRM, wait, then note on it that onboarding is done."""

    @workflow.run
    async def run(self, onboarding: Onboarding) -> Onboarded:
        """Sync, wait `note_after`, note (`conveyor status` shows the stage)."""
        customer = onboarding.customer
        try:
            self.progress = Progress(stage="syncing", percent=10)
            synced = await crm_sync.step(customer)
            self.progress = Progress(stage="waiting", percent=40, until=workflow.now() + onboarding.note_after)
            await workflow.sleep(onboarding.note_after)
            self.progress = Progress(stage="noting", percent=70)
            noted = await crm_note.step(customer.customer_id, "onboarded")
        except JOB_FAILURES as e:
            await self.fail(e)
        self.progress = Progress(stage="done", percent=100)
        return Onboarded(synced=synced, noted=noted)


def post(record: dict[str, Any]) -> int:
    """POST `record` to the CRM; the job id rides along as its idempotency key, so a retry is not a second sync."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": job.current_id() or ""}
    if (token := crm().token) is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    request = urllib.request.Request(crm().url, data=json.dumps(record).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        if 400 <= e.code < 500:
            raise CrmRejected(f"the CRM refused customer {record['customer_id']}: HTTP {e.code}") from None
        raise CrmUnavailable(f"the CRM answered HTTP {e.code}") from None
    except OSError as e:
        raise CrmUnavailable(f"the CRM is unreachable: {e}") from None
