"""`S3Storage`: the `Storage` protocol on S3 or anything that speaks its API (MinIO, moto), through boto3.

boto3 blocks, so every call runs in a thread. Uploads use boto3's managed transfer (multipart from disk), so a
large report never sits in memory. Path-style addressing works with MinIO and moto, whose endpoints have no
per-bucket DNS names. Credentials come from settings or boto3's usual chain (environment, instance role).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from activities.aws import aws_client
from activities.storage import TooLarge, checked_key
from contracts.config import AwsConfig
from contracts.errors import AttachmentNotFound, StorageUnavailable

MISSING = {"NoSuchKey", "404", "NotFound"}


@contextmanager
def reading(key: str) -> Iterator[None]:
    """S3's failures while reading `key`, typed: a missing object is `AttachmentNotFound` (permanent), anything
    else `StorageUnavailable` (retried)."""
    try:
        yield
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in MISSING:
            raise AttachmentNotFound(f"no stored file {key!r}") from None
        raise StorageUnavailable(f"S3 refused reading {key!r}: {e}") from None
    except BotoCoreError as e:
        raise StorageUnavailable(f"S3 unreachable: {e}") from None


class S3Storage:
    """Files in one bucket under an optional prefix; links are presigned GETs valid for `link_expiry_seconds`."""

    def __init__(self, aws: AwsConfig, bucket: str, prefix: str = "", link_expiry_seconds: int = 7 * 86400) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.link_expiry_seconds = link_expiry_seconds
        self.client = aws_client(aws, "s3", s3={"addressing_style": "path"}, signature_version="s3v4")

    def object_key(self, key: str) -> str:
        """The S3 object key of a storage key."""
        return self.prefix + checked_key(key)

    async def read(self, key: str) -> bytes:
        """The object's bytes (small files only: attachments)."""
        with reading(key):
            reply = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self.object_key(key))
            return await asyncio.to_thread(reply["Body"].read)

    async def upload(self, key: str, path: Path, content_type: str) -> None:
        """Upload from disk (multipart when large)."""
        try:
            await asyncio.to_thread(
                self.client.upload_file,
                str(path),
                self.bucket,
                self.object_key(key),
                ExtraArgs={"ContentType": content_type},
            )
        except (ClientError, BotoCoreError) as e:
            raise StorageUnavailable(f"S3 refused storing {key!r}: {e}") from None

    async def download(self, key: str, path: Path, max_bytes: int) -> None:
        """Download to `path` (multipart from S3 when large), after a HEAD request checked its size."""
        with reading(key):
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self.object_key(key))
            if head["ContentLength"] > max_bytes:
                raise TooLarge(head["ContentLength"])
            await asyncio.to_thread(self.client.download_file, self.bucket, self.object_key(key), str(path))

    async def keys(self, prefix: str) -> list[str]:
        """The keys under `prefix` (a storage key prefix, without the bucket's own prefix), 1,000 per request."""
        return await asyncio.to_thread(self._keys, prefix)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            listing = self.client.get_paginator("list_objects_v2")
            for page in listing.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as e:
            raise StorageUnavailable(f"S3 refused listing {self.bucket}/{self.prefix}{prefix}: {e}") from None
        return keys

    async def link(self, key: str) -> str:
        """A presigned GET URL (computed locally: no request to S3)."""
        return str(
            await asyncio.to_thread(
                self.client.generate_presigned_url,
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.object_key(key)},
                ExpiresIn=self.link_expiry_seconds,
            )
        )

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete objects under the prefix last modified before `cutoff`, 1,000 per request."""
        return await asyncio.to_thread(self._purge, cutoff)

    def _purge(self, cutoff: datetime) -> int:
        deleted = 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                old = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["LastModified"] < cutoff]
                if old:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": old, "Quiet": True})
                    deleted += len(old)
        except (ClientError, BotoCoreError) as e:
            raise StorageUnavailable(f"S3 refused purging {self.bucket}/{self.prefix}: {e}") from None
        return deleted
