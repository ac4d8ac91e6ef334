"""Reaching a secured Temporal (self-hosted with mTLS, or Temporal Cloud with an API key): which TLS settings
make which connection, with real certificate files made by `trustme`, and a real mTLS handshake in front of the
dev server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from conveyor import Settings, TemporalUnavailable
from conveyor.connection import connect, tls_config
from worker.doctor import Probe, temporal


@dataclass
class Pki:
    """A CA, the server certificate it signed, and a client certificate + key, as PEM files."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    client = ca.issue_cert("conveyor-worker@example.com")
    pki = Pki(ca, ca.issue_cert("127.0.0.1", "localhost"), tmp_path / "ca.pem", tmp_path / "client.pem",
              tmp_path / "client.key")  # fmt: skip
    ca.cert_pem.write_to_path(str(pki.ca_file))
    client.cert_chain_pems[0].write_to_path(str(pki.cert_file))
    client.private_key_pem.write_to_path(str(pki.key_file))
    return pki


def settings(**values: object) -> Settings:
    """Settings from these values only (no environment, no .env)."""
    return Settings.model_validate(values)


def test_plain_connection_by_default() -> None:
    assert tls_config(settings()) is False


def test_api_key_alone_turns_tls_on_with_system_cas() -> None:
    assert tls_config(settings(temporal_api_key=SecretStr("cloud-key"))) is True
    assert tls_config(settings(temporal_tls=True)) is True


def test_empty_api_key_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_TEMPORAL_API_KEY", "")
    loaded = Settings(_env_file=None)
    assert loaded.temporal_api_key is None and tls_config(loaded) is False


def test_client_certificate_means_mtls_with_the_files_contents(pki: Pki) -> None:
    config = tls_config(
        settings(temporal_tls_cert=pki.cert_file, temporal_tls_key=pki.key_file, temporal_tls_ca=pki.ca_file)
    )
    assert isinstance(config, TLSConfig)
    assert config.client_cert == pki.cert_file.read_bytes()
    assert config.client_private_key == pki.key_file.read_bytes()
    assert config.server_root_ca_cert == pki.ca_file.read_bytes()


def test_ca_alone_verifies_the_server_without_a_client_certificate(pki: Pki) -> None:
    config = tls_config(settings(temporal_tls_ca=pki.ca_file))
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == pki.ca_file.read_bytes() and config.client_cert is None


def test_certificate_without_key_is_refused_naming_both_settings(pki: Pki) -> None:
    with pytest.raises(TemporalUnavailable, match="CONVEYOR_TEMPORAL_TLS_CERT and CONVEYOR_TEMPORAL_TLS_KEY"):
        tls_config(settings(temporal_tls_cert=pki.cert_file))


def test_unreadable_certificate_names_its_setting(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(TemporalUnavailable, match=f"CONVEYOR_TEMPORAL_TLS_KEY={missing}: No such file"):
        tls_config(settings(temporal_tls_cert=pki.cert_file, temporal_tls_key=missing))


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until the reader ends."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def mtls_front(pki: Pki, target: str) -> AsyncIterator[str]:
    """A TLS terminator that requires a client certificate signed by the CA (as a secured cluster's frontend
    does) and forwards the HTTP/2 stream to the plain dev server; yields its address."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.server.configure_cert(context)
    pki.ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, _, port = target.rpartition(":")

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(forward, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_mtls_connects_through_a_verifying_frontend(temporal_env: WorkflowEnvironment, pki: Pki) -> None:
    async with mtls_front(pki, temporal_env.client.service_client.config.target_host) as address:
        secured = settings(temporal_address=address, temporal_tls_cert=pki.cert_file,
                           temporal_tls_key=pki.key_file, temporal_tls_ca=pki.ca_file)  # fmt: skip
        client = await connect(secured)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version  # a real answer from the server, through the verifying frontend
        assert await temporal(Probe(secured)) == f"{address}, namespace default"


async def test_missing_or_foreign_client_certificate_is_refused(
    temporal_env: WorkflowEnvironment, pki: Pki, tmp_path: Path
) -> None:
    stranger = trustme.CA().issue_cert("intruder@example.com")
    stranger.cert_chain_pems[0].write_to_path(str(tmp_path / "stranger.pem"))
    stranger.private_key_pem.write_to_path(str(tmp_path / "stranger.key"))
    async with mtls_front(pki, temporal_env.client.service_client.config.target_host) as address:
        for client_files in ({}, {"temporal_tls_cert": tmp_path / "stranger.pem",
                                  "temporal_tls_key": tmp_path / "stranger.key"}):  # fmt: skip
            with pytest.raises(TemporalUnavailable, match=f"cannot reach Temporal at {address}"):
                await connect(settings(temporal_address=address, temporal_tls_ca=pki.ca_file, **client_files))
