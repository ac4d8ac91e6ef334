"""How errors become responses: every client mistake is a 4xx naming what is wrong, without echoing the input;
only Temporal being unreachable is a 503 (a query Temporal refuses is the request's fault: 422); nothing a client
sends produces a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from temporalio.service import RPCError, RPCStatusCode

from conveyor.client import refused_query
from conveyor.errors import InvalidJobError, JobNotFound, JobStateError, TemporalUnavailable

log = logging.getLogger("conveyor.api")


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or invalid API key."},
    413: {"model": Problem, "description": "Request body too large."},
    422: {"model": Problem, "description": "Invalid input; the message names each field at fault."},
    502: {"model": Problem, "description": "Temporal failed the request (an error on its side, not an outage)."},
    503: {"model": Problem, "description": "Temporal is unreachable."},
}
"""Responses every authenticated route may give, for the OpenAPI document."""

OUTAGE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
"""The statuses that mean Temporal cannot answer now (503); any other unexpected status is its failure (502)."""

_RPC_STATUS = {
    RPCStatusCode.NOT_FOUND: (404, "no such job"),
    RPCStatusCode.INVALID_ARGUMENT: (422, "Temporal refused the request's arguments"),
    RPCStatusCode.FAILED_PRECONDITION: (409, "the job's state does not allow this"),
}


def describe(errors: Sequence[Any]) -> str:
    """`body.to.0: value is not a valid email address; query.priority: ...`: where and why, never the value."""
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())) or 'input'}: {e.get('msg')}" for e in errors)


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the error handlers on `app`."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, f"invalid request: {describe(exc.errors())}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8): input like any other
            return problem(422, "invalid request: body: not valid JSON")
        return problem(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(InvalidJobError)
    async def invalid_job(request: Request, exc: InvalidJobError) -> JSONResponse:
        return problem(422, str(exc))

    @app.exception_handler(JobNotFound)
    async def not_found(request: Request, exc: JobNotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(JobStateError)
    async def wrong_state(request: Request, exc: JobStateError) -> JSONResponse:
        return problem(409, str(exc))

    @app.exception_handler(TemporalUnavailable)
    async def unavailable(request: Request, exc: TemporalUnavailable) -> JSONResponse:
        return problem(503, "Temporal is unreachable")

    @app.exception_handler(RuntimeError)
    async def not_connected(request: Request, exc: RuntimeError) -> JSONResponse:
        # The lazy client's first call raises this while Temporal is down; any other RuntimeError is a bug.
        if str(exc).startswith("Failed client connect"):
            return problem(503, "Temporal is unreachable")
        log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal error")

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if refused_query(exc):
            return problem(422, "Temporal refused the request's arguments")
        if exc.status in _RPC_STATUS:
            return problem(*_RPC_STATUS[exc.status])
        status, detail = (503, "Temporal is unreachable") if exc.status in OUTAGE else (502, "Temporal failed")
        log.warning("Temporal call failed: %s %s", exc.status.name if exc.status else "", exc.message)
        return problem(status, detail)
