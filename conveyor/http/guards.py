"""What stands before every route: the API key check, the request size limit, and reading every body as JSON."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

bearer = HTTPBearer(auto_error=False, description="An API key from CONVEYOR_API_KEYS.")


def key_matches(given: str, keys: list[SecretStr]) -> bool:
    """True if `given` is one of `keys`. Every key is compared, each in constant time, so neither the time taken
    nor an early exit tells a caller how much of a key it guessed or which key it matched."""
    candidate = given.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key.get_secret_value().encode())
    return matched


def require_key(keys: list[SecretStr]) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A FastAPI dependency refusing, with a bare 401, any request without one of `keys` as its bearer token."""

    def check(credentials: HTTPAuthorizationCredentials | None) -> None:
        if credentials is None or not key_matches(credentials.credentials, keys):
            raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})

    return check


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is refused with 413 before any route sees it.

    It reads the body (up to the limit) before the app runs, so a chunked upload without Content-Length is
    bounded too; the body is then handed to the app unchanged.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on if its body fits, else answer 413 (400 for a malformed Content-Length)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._refuse(scope, receive, send, 400, "malformed Content-Length")
            return
        if declared is not None and int(declared) > self.limit:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send, 413, self._too_large())
                return
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body over {self.limit} bytes (CONVEYOR_API_MAX_BODY_BYTES)"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


JSON_TYPES = re.compile(rb"^application/([a-z0-9.+-]*\+)?json\s*(;|$)", re.IGNORECASE)
"""A declared JSON body: `application/json`, `application/problem+json`, with or without parameters."""


class JsonBody:
    """ASGI middleware: a request body is JSON whatever its declared type. The API speaks nothing else, and
    `curl -d '{...}'` — most people's first call — declares `application/x-www-form-urlencoded`: refusing that
    with "Input should be a valid dictionary" helps no one. A body that is not JSON is still a 422 naming the
    body (`JSON decode error`)."""

    def __init__(self, app: ASGIApp, exempt: str | None = None) -> None:
        self.app = app
        self.exempt = exempt
        """A path prefix left alone: the jobs page's HTML forms post urlencoded bodies."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Declare the body JSON (replacing any other `Content-Type`), then pass the request on."""
        exempt = self.exempt is not None and scope.get("path", "").startswith(self.exempt)
        if scope["type"] == "http" and not exempt:
            declared = [v for k, v in scope["headers"] if k == b"content-type"]
            if not declared or not all(JSON_TYPES.match(v) for v in declared):
                others = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                scope = dict(scope, headers=[*others, (b"content-type", b"application/json")])
        await self.app(scope, receive, send)


SECRET_PARAMS = frozenset({"api_key", "apikey", "api-key", "access_token", "token", "authorization", "bearer"})
"""Query parameters that carry a credential by their name."""


def carries_key(text: str, keys: list[SecretStr]) -> bool:
    """True if one of `keys` appears anywhere in `text`: alone, or inside a longer value (`?next=/x?k=<key>`,
    `/jobs/email-<key>`). Not constant-time, and need not be: only a text holding a whole key answers True, and
    guessing one that way is guessing the key itself."""
    return any(secret and secret in text for secret in (key.get_secret_value() for key in keys))


def key_in_url(path: str, query: str, keys: list[SecretStr]) -> bool:
    """True if a request's (decoded) path or query string carries a key, or names a credential parameter."""
    names = (name.lower() for name, _ in parse_qsl(query, keep_blank_values=True))
    return carries_key(path, keys) or carries_key(unquote_plus(query), keys) or any(n in SECRET_PARAMS for n in names)


class UrlKeyGuard:
    """ASGI middleware: a request with an API key anywhere in its URL (a query parameter named for one, or any
    path or parameter holding a key) is refused with 400 before any route runs, so no answer echoes it (a `404 no
    job 'email-<key>'`). URLs end up in access logs, proxies and browser histories, so a key there is a leaked
    key. The key goes in `Authorization: Bearer`."""

    def __init__(self, app: ASGIApp, keys: list[SecretStr]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request if its URL carries a key, else pass it on."""
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            if key_in_url(scope.get("path", ""), query, self.keys):
                detail = "API keys go in the Authorization header (Bearer), never in the URL: rotate a key sent there"
                await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ScrubQueryKeys(logging.Filter):
    """Access-log filter: a path segment holding an API key, and the name or value of a query parameter holding
    one (or named for a credential), become `***` in the logged URL (the request itself is refused by
    `UrlKeyGuard`; this keeps the key out of the log too)."""

    def __init__(self, keys: list[SecretStr]) -> None:
        super().__init__()
        self.keys = keys

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the URL argument of uvicorn's access line (`client, method, path?query, version, status`)."""
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], self.scrub(record.args[2]), *record.args[3:])
        return True

    def scrub(self, target: str) -> str:
        """`target` (a path with its query) with every piece holding a credential replaced by `***`."""
        parts = urlsplit(target)
        path = "/".join("***" if carries_key(unquote(s), self.keys) else s for s in parts.path.split("/"))
        if not parts.query:
            return path
        pairs = [
            (
                "***" if carries_key(name, self.keys) else name,
                "***" if name.lower() in SECRET_PARAMS or carries_key(value, self.keys) else value,
            )
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return path + "?" + "&".join(f"{quote(n, safe='*')}={quote(v, safe='*')}" for n, v in pairs)


def scrub_access_log(keys: list[SecretStr]) -> None:
    """Install `ScrubQueryKeys` on uvicorn's access logger (once: an earlier app's filter is replaced)."""
    access = logging.getLogger("uvicorn.access")
    for old in [f for f in access.filters if isinstance(f, ScrubQueryKeys)]:
        access.removeFilter(old)
    access.addFilter(ScrubQueryKeys(keys))
