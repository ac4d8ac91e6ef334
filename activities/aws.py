"""Reaching AWS APIs (SNS for SMS, S3 for reports) or compatible ones (MinIO, moto) with boto3."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from contracts.config import AwsConfig


def aws_client(aws: AwsConfig, service: str, **config: Any) -> Any:
    """A boto3 client for `service` as `aws` says, making one attempt per call (Temporal retries), with `config`
    for botocore."""
    return boto3.session.Session().client(
        service,
        region_name=aws.region,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key.get_secret_value() if aws.secret_access_key else None,
        config=Config(retries={"total_max_attempts": 1}, **config),
    )
