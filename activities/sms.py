"""The SMS job's one activity: hand the message to the configured provider.

The rate the provider allows is enforced by Temporal, not here: the SMS task queue's worker sets
`max_task_queue_activities_per_second`, which holds across every worker process polling that queue.
"""

from __future__ import annotations

from temporalio import activity

from activities.errors import JobError
from activities.sms_models import SendSmsInput, SmsResult, parts
from activities.sms_providers import SmsProvider


class SmsActivities:
    """Sends text messages through one provider, built by the worker from settings."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    @activity.defn(name="send_sms")
    async def send_sms(self, request: SendSmsInput) -> SmsResult:
        """Send one message. Failures are raised typed: see `activities.errors`."""
        try:
            message_id = await self.provider.send(request.job_id, request.job)
        except JobError as e:
            raise e.to_application_error() from None
        return SmsResult(
            message_id=message_id, to=request.job.to, parts=parts(request.job.body), provider=self.provider.name
        )
