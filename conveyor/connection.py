"""Connecting to Temporal: a local dev server, a self-hosted cluster with mTLS, or Temporal Cloud with an API key.

Every client and worker uses the one pydantic data converter, so models travel as plain JSON (`json/plain`)
that any Temporal SDK or `temporal` CLI can read and write.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCStatusCode, TLSConfig

from conveyor.errors import TemporalUnavailable
from conveyor.settings import Settings
from conveyor.telemetry import tracing_interceptors

WITHOUT_STANDALONE_ACTIVITIES = (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.FAILED_PRECONDITION)
"""How a server without standalone activities answers their calls: UNIMPLEMENTED before 1.31 (and from the
time-skipping test server), FAILED_PRECONDITION with them turned off. Jobs of the activity shape then run as
workflows (`Jobs.standalone_activities`); any other refusal is an error of its own."""


EXTRA_INTERCEPTORS: list[Interceptor] = []
"""Interceptors every client `connect` makes carries, after tracing's: the pytest plugin (`conveyor.testing`)
records there which jobs a test started, since visibility lists a job just started only a moment later."""


def read_pem(path: Path | None, setting: str) -> bytes | None:
    """The PEM file a setting names; `TemporalUnavailable` naming the setting if it cannot be read."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        raise TemporalUnavailable(f"cannot read {setting}={path}: {e.strerror}") from None


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS when a client certificate is set, plain TLS for an API key or `temporal_tls`, else none."""
    ca = read_pem(settings.temporal_tls_ca, "CONVEYOR_TEMPORAL_TLS_CA")
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        if not (settings.temporal_tls_cert and settings.temporal_tls_key):
            raise TemporalUnavailable("mTLS needs both CONVEYOR_TEMPORAL_TLS_CERT and CONVEYOR_TEMPORAL_TLS_KEY")
        return TLSConfig(
            client_cert=read_pem(settings.temporal_tls_cert, "CONVEYOR_TEMPORAL_TLS_CERT"),
            client_private_key=read_pem(settings.temporal_tls_key, "CONVEYOR_TEMPORAL_TLS_KEY"),
            server_root_ca_cert=ca,
        )
    if ca:
        return TLSConfig(server_root_ca_cert=ca)
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings, runtime: Runtime | None = None, *, lazy: bool = False) -> Client:
    """A Temporal client for `settings`; `TemporalUnavailable` with the address when it cannot connect.

    `runtime` is where its (and its workers') SDK metrics go (see `conveyor.telemetry.metrics_runtime`); it can
    only be chosen here, when the client is made. `lazy` connects on first use (the API starts, and says so on
    `/healthz`, while Temporal is down). Tracing interceptors are added when `otlp_endpoint` is set.
    """
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            tls=tls_config(settings),
            data_converter=pydantic_data_converter,
            interceptors=[*tracing_interceptors(settings), *EXTRA_INTERCEPTORS],
            runtime=runtime,
            lazy=lazy,
        )
    except RuntimeError as e:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal_address} (namespace {settings.namespace!r}): "
            "start `conveyor dev`, or set CONVEYOR_TEMPORAL_ADDRESS"
        ) from e
