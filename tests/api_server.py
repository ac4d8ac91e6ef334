"""The real HTTP API for tests: uvicorn on a loopback port, in a thread with its own event loop and its own
Temporal client, exactly as `conveyor api` runs it (so sync tests, like schemathesis', can call it too)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from conveyor import Settings
from conveyor.http import create_app, serving

KEY = "test-api-key-7f3a9c1e5b"


class ApiThread:
    """`with ApiThread(settings) as api:` serves the API at `api.url` inside the block."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://{settings.api_host}:{settings.api_port}"
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None

    def _run(self) -> None:
        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            async with serving(create_app(self.settings), self.settings):
                self.ready.set()
                await self.stop.wait()

        try:
            asyncio.run(main())
        except BaseException as e:  # reported to the test by __enter__
            self.failed = e
            self.ready.set()

    def __enter__(self) -> ApiThread:
        self.thread.start()
        assert self.ready.wait(30), "the API did not start within 30 s"
        if self.failed:
            raise self.failed
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        assert not self.thread.is_alive(), "the API did not stop within 30 s"

    def client(self, key: str | None = KEY) -> httpx.AsyncClient:
        """An HTTP client sending `key` as its bearer token (none if None)."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)
