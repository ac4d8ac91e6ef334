"""The SMS job's one activity: hand the message to the configured provider, no faster than its rate.

The rate holds at two levels. Across worker processes, the SMS task queue's worker sets Temporal's
`max_task_queue_activities_per_second`. That limit is a token bucket which, measured here, lets about a second's
worth of tasks through at once (5 sends within 50 ms at 4/s), so within a process a `Pacer` also spaces sends at
least 1/rate apart: a burst of N messages from one worker takes at least (N-1)/rate seconds.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.liveness import alive
from activities.pacer import Pacer
from activities.sms_providers import SmsProvider
from contracts.errors import failures_typed
from contracts.inputs import any_inputs, decode
from contracts.progress import Progress
from contracts.sms import SendSmsInput, SmsJob, SmsResult, parts

SENDING = Progress(stage="sending")
"""What a slow text heartbeats (waiting its turn under the rate limit, or for the provider)."""


class SmsActivities:
    """Sends text messages through one provider, built by the worker from settings."""

    def __init__(self, provider: SmsProvider, rate_per_second: float | None = None) -> None:
        self.provider = provider
        self.pacer = Pacer(rate_per_second)

    async def deliver(self, job_id: str, job: SmsJob) -> str:
        """Hand `job` to the provider once the rate allows; the provider's message id. Single texts and SMS
        broadcast batches both send through here, so they share the rate."""
        await self.pacer.wait()
        return await self.provider.send(job_id, job)

    @activity.defn(name="sms")
    @any_inputs
    async def sms(self, *raw: Any) -> SmsResult:
        """The SMS job itself, run as a standalone activity: its one input is an `SmsJob` as JSON, its id the job
        id. Failures are raised typed: see `contracts.errors`."""
        with failures_typed():
            return await self.send(activity.info().activity_id, decode(raw, SmsJob))

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendSmsInput) -> SmsResult:
        """One message as a workflow's step (`SendSms` jobs still in flight)."""
        with failures_typed():
            return await self.send(request.job_id, request.job)

    async def send(self, job_id: str, job: SmsJob) -> SmsResult:
        """Send `job` as job `job_id` (providers that deduplicate use it)."""
        async with alive(lambda: SENDING):
            message_id = await self.deliver(job_id, job)
        return SmsResult(message_id=message_id, to=job.to, parts=parts(job.body), provider=self.provider.name)
