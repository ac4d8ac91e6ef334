"""How the worker reaches its outside parts (SMTP, AWS): plain data that settings produce and activities consume.

Kept here, light, so `conveyor.settings` can build them without importing aiosmtplib or boto3.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr


class SmtpTls(StrEnum):
    """How the SMTP connection is secured."""

    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"  # TLS from the first byte, usually port 465


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the SMTP server."""

    host: str = "127.0.0.1"
    port: int = 1025
    tls: SmtpTls = SmtpTls.NONE
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    ca_file: Path | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """The context that verifies the server (system CAs, or `ca_file`); None without TLS."""
        if self.tls is SmtpTls.NONE:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


@dataclass(frozen=True)
class AwsConfig:
    """How to reach an AWS API (or a compatible one: moto, MinIO): shared by SNS and S3."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
