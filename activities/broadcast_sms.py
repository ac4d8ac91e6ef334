"""The SMS channel of broadcasts: one activity texts a batch of recipients through the SMS provider.

It shares the SMS job's provider and pacer (`SmsActivities`), so single texts and broadcast batches in one worker
process together stay under `CONVEYOR_SMS_RATE_PER_SECOND`. Each recipient's text carries the idempotency key
derived from the broadcast id and the recipient, as the email channel's Message-ID does.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import activity

from activities.broadcast import recipient_key, run_batch, sms_number
from activities.render import render_text_async
from activities.sms import SmsActivities
from contracts.broadcast import BatchOutcome, Recipient, SendBatchInput
from contracts.errors import PermanentError, describe_errors
from contracts.render_limits import RenderLimits
from contracts.sms import SmsJob


class SmsBroadcastActivities:
    """Sends SMS broadcast batches; built by the worker around the SMS activities it already has."""

    def __init__(self, sms: SmsActivities, limits: RenderLimits | None = None) -> None:
        self.sms = sms
        self.limits = limits or RenderLimits()

    @activity.defn(name="send_sms_batch")
    async def send_sms_batch(self, request: SendBatchInput) -> BatchOutcome:
        """Text every recipient of the batch at the provider's rate; see `activities.broadcast.run_batch`."""
        return await run_batch(request, self._send_one)

    async def _send_one(self, request: SendBatchInput, recipient: Recipient) -> str | None:
        message = request.message
        assert message.body is not None  # the model requires it on the SMS channel
        try:
            body = await render_text_async(
                message.body, message.context | recipient.context, self.limits, request.broadcast_id
            )
            job = SmsJob.model_validate({"to": sms_number(recipient), "body": body, "sender_id": message.sender_id})
            await self.sms.deliver(recipient_key(request.broadcast_id, recipient.address), job)
        except ValidationError as e:  # this recipient's text is too long, or their number is not one
            return describe_errors(e)
        except PermanentError as e:
            return str(e)
        return None
