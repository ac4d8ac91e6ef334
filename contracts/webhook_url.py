"""Checking a webhook URL without quoting it: light (stdlib only), so settings check it at load."""

from __future__ import annotations

from urllib.parse import urlsplit


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook (an absolute http(s) URL with a host), or None. The answer never quotes the
    URL: webhook URLs are credentials (Slack's carry their token in the path)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if not host:
        return "has no host"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "contains spaces or control characters"
    if not host.isascii():  # IDNA has two standards (Python's codec: 2003; httpx: 2008) that disagree on some names
        return "has a non-ASCII host: write it in its xn-- (punycode) form"
    return None
