"""Example bodies in the OpenAPI document, one set per job kind: what a producer in another language copies."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, dict[str, Any]] = {
    "email": {
        "template": {
            "summary": "A built-in template",
            "value": {"to": ["ann@example.com"], "template": "welcome", "context": {"name": "Ann"}},
        },
        "explicit": {
            "summary": "Subject and body given",
            "value": {"to": ["ann@example.com"], "subject": "Your invoice", "text": "It is attached.", "html": None},
        },
    },
    "sms": {
        "code": {"summary": "A one-time code", "value": {"to": "+15555550100", "body": "Your code is 1234"}},
    },
    "broadcast": {
        "static": {
            "summary": "A newsletter to a list of addresses",
            "value": {
                "source": {"name": "static", "arg": ["ann@example.com", "bob@example.com"]},
                "message": {"template": "newsletter", "context": {"title": "November news"}},
            },
        },
        "sms": {
            "summary": "A text to every row of a CSV (its phone column), by name",
            "value": {
                "source": "csv:customers.csv",
                "message": {"channel": "sms", "body": "Hi {{ name }}, your order has shipped.", "sender_id": "Shop"},
            },
        },
    },
    "image": {
        "thumbnails": {
            "summary": "Three thumbnails of a photo in the data directory",
            "value": {
                "source": {"file": "photos/beach.jpg"},
                "outputs": [
                    {"name": "large", "width": 1200, "fit": "inside", "format": "webp"},
                    {"name": "card", "width": 400, "height": 400, "crop": "attention", "format": "jpeg"},
                    {"name": "icon", "width": 200, "height": 200, "format": "avif", "quality": 60},
                ],
            },
        },
    },
    "report": {
        "summary": {
            "summary": "Jobs summary, emailed",
            "value": {"report": "jobs-summary", "format": "pdf", "deliver_to": ["ops@example.com"]},
        },
    },
    "webhook": {
        "event": {
            "summary": "One event to one declared endpoint",
            "value": {"endpoint": "acme", "event_type": "invoice.paid", "payload": {"invoice": "in_1", "amount": 4200}},
        },
    },
}
