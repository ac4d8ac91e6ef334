"""Where text messages go: AWS SNS in production, a JSON-lines outbox under `conveyor dev`.

A provider is one class with one async method, `send`; adding another (an HTTP gateway, say) is one class that
raises the typed errors of `contracts.errors`: invalid number and opted out are permanent, throttling, 5xx and
connection failures transient. Retries are Temporal's, so boto3 makes exactly one attempt per activity attempt.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from activities.aws import aws_client
from contracts.config import AwsConfig
from contracts.errors import (
    JobError,
    PhoneNumberRejected,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientOptedOut,
    SmsRejected,
)
from contracts.sms import SmsJob


class SmsProvider(Protocol):
    """Sends one message; returns the provider's message id. Raises `JobError`s, never provider exceptions."""

    name: str

    async def send(self, job_id: str, job: SmsJob) -> str:
        """Deliver `job` (its number is E.164 already) and return the provider's id for it."""
        ...


THROTTLING = {"Throttling", "ThrottlingException", "Throttled", "ThrottledException", "TooManyRequestsException"}
OPTED_OUT = {"OptedOut", "OptedOutException"}


def classify(error: Exception) -> JobError:
    """The Conveyor error for a boto3 failure talking to SNS."""
    if not isinstance(error, ClientError):
        return ProviderUnavailable(f"SMS provider unreachable: {type(error).__name__}: {error}")
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in THROTTLING:
        return ProviderThrottled(f"SMS provider throttled the send: {code}: {message}")
    if code in OPTED_OUT or "opted out" in message.lower():
        return RecipientOptedOut(f"the recipient opted out of SMS: {message}")
    if status >= 500:
        return ProviderUnavailable(f"SMS provider failed: {status} {code}: {message}")
    if code.startswith("InvalidParameter") and "phone" in message.lower():
        return PhoneNumberRejected(f"SMS provider refused the number: {message}")
    return SmsRejected(f"SMS provider refused the message: {code}: {message}")


class SnsProvider:
    """AWS SNS direct publish to a phone number. boto3 blocks, so each send runs in a thread."""

    name = "sns"

    def __init__(self, aws: AwsConfig, sms_type: str = "Transactional") -> None:
        self.sms_type = sms_type
        self.client = aws_client(aws, "sns")

    async def send(self, job_id: str, job: SmsJob) -> str:
        """Publish the message; SMSType and the optional sender id travel as message attributes."""
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": self.sms_type}}
        if job.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": job.sender_id}
        try:
            reply = await asyncio.to_thread(
                self.client.publish, PhoneNumber=job.to, Message=job.body, MessageAttributes=attributes
            )
        except (ClientError, BotoCoreError) as e:
            raise classify(e) from None
        return str(reply["MessageId"])


class OutboxProvider:
    """Appends each message as one JSON line to a file: `conveyor dev`'s SMS "network", readable with `tail -f`."""

    name = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def send(self, job_id: str, job: SmsJob) -> str:
        """Append the message; its id is the job id's, so a retried job is recognisable in the file."""
        message_id = f"{job_id}/{uuid.uuid4().hex[:8]}"
        line = json.dumps(
            {
                "message_id": message_id,
                "job_id": job_id,
                "to": job.to,
                "sender_id": job.sender_id,
                "body": job.body,
                "sent_at": datetime.now(UTC).isoformat(),
            }
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        return message_id
