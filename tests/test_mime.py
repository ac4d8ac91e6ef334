"""The wire-bytes messages Conveyor sends on the common path are the messages the stdlib builds: same headers,
same parts, CRLF lines under 998 octets; and only what the wire path can carry takes it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from activities.broadcast import recipient_key
from activities.mime import WireMime, fast_path_for, full_message
from activities.render import RenderedEmail

SENDER = "Conveyor Tests <jobs@conveyor.test>"
HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "X-Conveyor-Job-Id", "MIME-Version", "Content-Type")


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> list[tuple[str, str]]:
    return [(p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()]


@pytest.mark.parametrize(
    "content",
    [
        RenderedEmail(
            subject="Hello Ada", text="Hi Ada,\n\n.a line starting with a dot\n", html="<p>Hi <b>Ada</b></p>"
        ),
        RenderedEmail(subject="Grüße, Zoë — ünïcode ✓", text="Grüße " * 40, html=None),
        RenderedEmail(subject="html only", text=None, html="<p>" + "x" * 500 + "</p>"),
        RenderedEmail(subject="Order 42\tshipped", text="t", html=None),
    ],
    ids=["alternatives", "unicode-text-only", "html-only", "tab-in-subject"],
)
@pytest.mark.parametrize(
    ("to", "cc", "reply_to"),
    [(["ada@example.com"], [], None), (["ada@example.com", "bo@example.com"], ["cy@example.com"], "desk@example.com")],
    ids=["a-broadcast-recipient", "an-email-job"],
)
def test_wire_message_is_the_message_the_stdlib_builds(
    content: RenderedEmail, to: list[str], cc: list[str], reply_to: str | None
) -> None:
    key = recipient_key("broadcast-1", "ada@example.com")
    raw = WireMime(SENDER).message(content, key, 1_800_000_000.5, to, cc, reply_to)
    fast = parsed(raw)
    classic = parsed(full_message(content, SENDER, key, to, cc, reply_to).as_bytes())
    for header in HEADERS:
        assert fast[header] == classic[header], header
    assert b"\r\nDate: Fri, 15 Jan 2027 08:00:00 GMT\r\n" in raw
    assert all(line.endswith(b"\r") and len(line) < 999 for line in raw.split(b"\n")[:-1]), "CRLF lines only"
    assert parts(fast) == parts(classic)


def test_only_plain_ascii_addresses_take_the_wire_path() -> None:
    assert fast_path_for(SENDER, "ada@example.com", "bo@example.com")
    assert not fast_path_for(SENDER, "zoë@exämple.com")
    assert not fast_path_for("ada@example.com\r\nBcc: x@evil.test")
    assert not fast_path_for("Zoë <jobs@conveyor.test>", "ada@example.com"), "a sender's name in utf-8 too"
