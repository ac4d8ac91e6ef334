"""The SMS job's request and result: the JSON contract of `SendSms`, validated the same everywhere.

The number is normalised to E.164 with `phonenumbers`, so producers may write `+1 (202) 555-0143`. The body is
measured the way carriers bill it: GSM-7 when every character is in the GSM alphabet (160 per message, 153 per
part of a long message; `^{}[]~|€\\` take two), else UCS-2 (70, 67 per part; an emoji takes two).
"""

from __future__ import annotations

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.input_checks import display_text
from contracts.requests import JobRequest

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
"""Characters GSM-7 sends as an escape plus one septet: they count twice."""
MAX_PARTS = 10
"""Longest message accepted, in parts: carriers reassemble up to ~10 reliably (SNS refuses over 1,600 bytes)."""
SENDER_ID = r"^[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*$"
"""Letters and digits with at least one letter (all digits would read as a phone number)."""


def encoding_and_units(body: str) -> tuple[str, int]:
    """`("GSM-7", septets)` or `("UCS-2", UTF-16 code units)`: the encoding a carrier uses and the body's size."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        return "GSM-7", sum(2 if c in GSM7_EXTENSION else 1 for c in body)
    return "UCS-2", len(body.encode("utf-16-le")) // 2


def parts(body: str) -> int:
    """How many SMS messages the body is sent (and billed) as."""
    encoding, units = encoding_and_units(body)
    single, per_part = (160, 153) if encoding == "GSM-7" else (70, 67)
    return 1 if units <= single else -(-units // per_part)


def e164(value: str) -> str:
    """`value` as an E.164 number (`+12025550143`); `ValueError` saying why it is not a phone number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("must be a phone number in international format, e.g. +15555550100") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number for its country (wrong length?)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _first_non_gsm(body: str) -> str:
    """The character that makes `body` need UCS-2, for the error message."""
    return next(c for c in body if c not in GSM7_BASIC and c not in GSM7_EXTENSION)


class SmsJob(JobRequest):
    """Send one text message to one phone number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str = Field(description="Phone number in international format (+ and country code); stored as E.164.")
    body: str = Field(min_length=1, description=f"The text; at most {MAX_PARTS} parts (GSM-7 1,530 / UCS-2 670).")
    sender_id: str | None = Field(
        None,
        pattern=SENDER_ID,
        max_length=11,
        description="Alphanumeric sender shown where carriers allow it (1-11 characters).",
    )

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)

    @field_validator("body")
    @classmethod
    def _length(cls, value: str) -> str:
        display_text(value)
        if parts(value) > MAX_PARTS:
            encoding, units = encoding_and_units(value)
            limit = MAX_PARTS * (153 if encoding == "GSM-7" else 67)
            why = "" if encoding == "GSM-7" else f" (UCS-2 because of {_first_non_gsm(value)!r})"
            raise ValueError(f"is {units} {encoding} characters{why}, over the {limit} of {MAX_PARTS} SMS parts")
        return value


class SendSmsInput(BaseModel):
    """What the `send_sms` activity needs: the job and its id (providers that deduplicate use it)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    job: SmsJob


class SmsResult(BaseModel):
    """The job's result: the provider's message id, the number it went to, and how many parts it took."""

    message_id: str
    to: str
    parts: int
    provider: str
