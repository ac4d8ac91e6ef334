"""The broadcast baseline: raw aiosmtplib sending the newsletter to N recipients over reused connections.

    python -m bench.smtp_baseline --port 38025 --count 10000 --connections 10

Runs as a process of its own (as Conveyor's worker does), so the sink's thread never shares its GIL. Each message
is the newsletter template rendered once, personalised by string replacement and built with the stdlib's fast
classic MIME classes: the least work a hand-written sender does. Prints `{"seconds": ...}` (sending only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import aiosmtplib

from activities.render import RenderedEmail, TemplateRenderer

PLACEHOLDER = "\x00NAME\x00"


def newsletter() -> RenderedEmail:
    """The newsletter as Conveyor renders it, with a placeholder where the recipient's name goes."""
    return TemplateRenderer().render("newsletter", {"name": PLACEHOLDER})


def message(content: RenderedEmail, i: int) -> Message:
    """Recipient `i`'s message: text and HTML alternatives with their name."""
    name = f"Reader {i}"
    parts = [MIMEText(body.replace(PLACEHOLDER, name), sub, "utf-8")
             for body, sub in ((content.text, "plain"), (content.html, "html")) if body is not None]  # fmt: skip
    msg = MIMEMultipart("alternative", _subparts=parts)
    msg["From"] = "Bench <bench@conveyor.localhost>"
    msg["To"] = f"reader{i}@example.com"
    msg["Subject"] = content.subject
    return msg


async def send_all(port: int, count: int, connections: int) -> float:
    """Seconds to send `count` messages over `connections` connections, each sending its share in turn."""
    content = newsletter()
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    await asyncio.gather(*(c.connect() for c in clients))
    began = time.perf_counter()

    async def drain(client: aiosmtplib.SMTP, first: int) -> None:
        for i in range(first, count, connections):
            await client.send_message(message(content, i))

    await asyncio.gather(*(drain(c, n) for n, c in enumerate(clients)))
    seconds = time.perf_counter() - began
    await asyncio.gather(*(c.quit() for c in clients))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps({"seconds": asyncio.run(send_all(args.port, args.count, args.connections))}))


if __name__ == "__main__":
    main()
