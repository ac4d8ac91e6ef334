"""Email messages as Conveyor sends them: wire bytes on the common path, the stdlib's `EmailMessage` otherwise.

Building a message with the stdlib costs more worker CPU than sending it: its header registry parses and re-folds
every header, and its generator re-encodes them (~60 % of a broadcast batch's CPU, and ~half an email job's,
measured with cProfile). CPU on the worker is CPU the Temporal server on the same machine does not get. So a
message whose addresses are plain ASCII and which has no attachment is joined from bytes (`WireMime`): the From
line once per worker or batch, other header lines cached, utf-8 text parts in base64. Anything else (an
internationalised address, attachments) is built by the stdlib (`full_message`). Both give the same parsed message
(`tests/test_mime.py` checks it): text and/or HTML alternatives, Message-ID and job-id header from the job's key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from activities.render import RenderedEmail
from contracts.email import JOB_ID_HEADER

CRLF = b"\r\n"


@dataclass(frozen=True)
class FileAttachment:
    """An attachment's bytes, as read from the job or from storage."""

    data: bytes
    content_type: str
    filename: str


def message_id(key: str, mail_from: str) -> str:
    """`<key@sender-domain>`: stable across attempts of a job, unique per job (or per broadcast recipient)."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "conveyor.localhost"
    return f"<{re.sub(r'[^A-Za-z0-9.!#$%&*+/=?^_`{|}~-]', '_', key)}@{domain}>"


def fast_path_for(*addresses: str) -> bool:
    """True when every address can go in a header and an envelope as it is (plain ASCII, no line breaks)."""
    return all(a.isascii() and "\r" not in a and "\n" not in a for a in addresses)


@functools.lru_cache(maxsize=1024)
def _header(name: str, value: str) -> bytes:
    """One header line: ASCII as it is (folding is only a should below 998 octets), else RFC 2047 words. Cached:
    a broadcast's subjects and a worker's From repeat."""
    if value.isascii() and len(value) < 900 and "\r" not in value and "\n" not in value:
        return f"{name}: {value}".encode() + CRLF
    words = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {words}".encode() + CRLF


def _part(subtype: str, body: str) -> bytes:
    """A utf-8 text part in base64, ending in a line break as `EmailMessage.set_content` ends it."""
    body = body if body.endswith("\n") else body + "\n"
    encoded = base64.encodebytes(body.encode()).replace(b"\n", CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n'
        "\r\n"
    ).encode() + encoded


def _boundary(key: str) -> str:
    """The multipart boundary, from the key: the generator would otherwise compile a regex per message to check a
    random one against the body (base64 bodies cannot contain its `_`)."""
    return f"==conveyor_{hashlib.sha256(key.encode()).hexdigest()[:24]}=="


class WireMime:
    """Messages from one sender as wire bytes (CRLF lines, ASCII): for addresses `fast_path_for` accepts."""

    def __init__(self, mail_from: str) -> None:
        self.mail_from = mail_from
        self.sender = parseaddr(mail_from)[1]
        """The envelope sender, parsed once, not per message."""
        self._date = b""
        self._date_at = -1

    def message(
        self,
        content: RenderedEmail,
        key: str,
        now: float,
        to: Sequence[str],
        cc: Sequence[str] = (),
        reply_to: str | None = None,
    ) -> bytes:
        """The message for `to` (and `cc`; Bcc never shows); `now` (epoch seconds) dates it, to the second like
        `formatdate`."""
        second = int(now)
        if second != self._date_at:  # one Date header string per second, not per message
            self._date, self._date_at = _header("Date", formatdate(second, usegmt=True)), second
        lines = [_header("From", self.mail_from), f"To: {', '.join(to)}\r\n".encode()]
        if cc:
            lines.append(f"Cc: {', '.join(cc)}\r\n".encode())
        if reply_to:
            lines.append(f"Reply-To: {reply_to}\r\n".encode())
        lines += [
            _header("Subject", content.subject),
            self._date,
            f"Message-ID: {message_id(key, self.mail_from)}\r\n{JOB_ID_HEADER}: {key}\r\n".encode(),
        ]
        head = b"".join(lines)
        parts = [
            _part(sub, body) for sub, body in (("plain", content.text), ("html", content.html)) if body is not None
        ]
        if len(parts) == 1:
            return head + parts[0]
        boundary = _boundary(key).encode()
        return (
            head
            + b'Content-Type: multipart/alternative; boundary="'
            + boundary
            + b'"\r\nMIME-Version: 1.0\r\n\r\n'
            + b"".join(b"--" + boundary + CRLF + part + CRLF for part in parts)
            + b"--"
            + boundary
            + b"--"
            + CRLF
        )


def full_message(
    content: RenderedEmail,
    mail_from: str,
    key: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    attachments: Sequence[FileAttachment] = (),
) -> EmailMessage:
    """The same message built by the stdlib, for what the wire path does not take: internationalised addresses
    (aiosmtplib then asks the server for SMTPUTF8) and attachments."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = [Address(addr_spec=a) for a in to]
    if cc:
        msg["Cc"] = [Address(addr_spec=a) for a in cc]
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = content.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(key, mail_from)
    msg[JOB_ID_HEADER] = key
    if content.text is not None:
        msg.set_content(content.text)
    if content.html is not None:
        if content.text is None:
            msg.set_content(content.html, subtype="html")
        else:
            msg.add_alternative(content.html, subtype="html")
    if msg.is_multipart():
        msg.set_boundary(_boundary(key))
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg
