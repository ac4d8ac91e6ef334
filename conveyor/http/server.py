"""Running the API with uvicorn inside Conveyor's own process life: it starts on a free port or refuses with one
line, and stops when the block around it ends (on SIGTERM/SIGINT), finishing the requests in flight."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from conveyor.errors import ConveyorError
from conveyor.ports import check_free
from conveyor.settings import Settings


class ApiServer(uvicorn.Server):
    """uvicorn that says when it is up, and leaves signals to Conveyor (see `worker.run.stop_on_signals`), so
    the API and the workers of one process stop together, in order."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to Conveyor."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then say so."""
        await super().startup(sockets)
        if not self.should_exit:
            self.up.set()


@contextlib.asynccontextmanager
async def serving(app: FastAPI, settings: Settings) -> AsyncIterator[ApiServer]:
    """The API listening on `api_host:api_port` inside the block; `PortBusy` first if the port is taken."""
    check_free(settings.api_host, settings.api_port, "CONVEYOR_API_PORT")
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_config=None, lifespan="on", server_header=False
    )
    server = ApiServer(config)
    task = asyncio.create_task(server.serve())
    up = asyncio.create_task(server.up.wait())
    await asyncio.wait([task, up], return_when=asyncio.FIRST_COMPLETED)
    if not server.up.is_set():
        up.cancel()
        await task
        raise ConveyorError(f"the API did not start on {settings.api_host}:{settings.api_port}")
    try:
        yield server
    finally:
        server.should_exit = True
        await task
