"""Connecting to Temporal: a local dev server, a self-hosted cluster with mTLS, or Temporal Cloud with an API key.

Every client and worker uses the one pydantic data converter, so models travel as plain JSON (`json/plain`)
that any Temporal SDK or `temporal` CLI can read and write.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from conveyor.errors import TemporalUnavailable
from conveyor.settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS when a client certificate is set, plain TLS for an API key or `temporal_tls`, else none."""
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        if not (settings.temporal_tls_cert and settings.temporal_tls_key):
            raise TemporalUnavailable("mTLS needs both CONVEYOR_TEMPORAL_TLS_CERT and CONVEYOR_TEMPORAL_TLS_KEY")
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    if settings.temporal_tls_ca:
        return TLSConfig(server_root_ca_cert=settings.temporal_tls_ca.read_bytes())
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings) -> Client:
    """A Temporal client for `settings`; `TemporalUnavailable` with the address when it cannot connect."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            tls=tls_config(settings),
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as e:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal_address} (namespace {settings.namespace!r}): "
            "start `conveyor dev`, or set CONVEYOR_TEMPORAL_ADDRESS"
        ) from e
