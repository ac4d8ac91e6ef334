"""Reaching AWS APIs (SNS for SMS, S3 for reports) or compatible ones (MinIO, moto) with boto3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from pydantic import SecretStr


@dataclass(frozen=True)
class AwsConfig:
    """How to reach an AWS API (or a compatible one: moto, MinIO): shared by SNS and S3."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client making one attempt per call (Temporal retries), with `config` for botocore."""
        return boto3.session.Session().client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key.get_secret_value() if self.secret_access_key else None,
            config=Config(retries={"total_max_attempts": 1}, **config),
        )
