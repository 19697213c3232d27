"""S3 access for the gateway and the workers: presigned uploads, HEAD, streaming transfers.

One `Storage` wraps one long-lived aiobotocore client; create it with `open_storage` inside an
`AsyncExitStack` owned by the process. Handlers receive it through their context and never touch boto.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from vidpipe.errors import PermanentError
from vidpipe.settings import AWSSettings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_CHUNK = 1024 * 1024
_MIN_PART = 8 * 1024 * 1024


class ObjectInfo(msgspec.Struct, frozen=True):
    key: str
    size: int
    content_type: str
    etag: str


class CompletedPart(msgspec.Struct, frozen=True):
    part_number: int
    etag: str


def client_config() -> AioConfig:
    # Path-style addressing works with moto and LocalStack on loopback as well as with AWS.
    return AioConfig(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"mode": "standard"})


class Storage:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    async def presigned_put(self, key: str, content_type: str, expires_s: int, content_length: int) -> str:
        """A PUT URL whose signature covers the type and the exact size, so S3 refuses any other upload."""
        return await self._s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": content_length},
            ExpiresIn=expires_s,
        )

    async def presigned_get(self, key: str, expires_s: int = 3600) -> str:
        return await self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    async def create_multipart(self, key: str, content_type: str) -> str:
        created = await self._s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return created["UploadId"]

    async def presigned_part(
        self, key: str, upload_id: str, part_number: int, expires_s: int, content_length: int | None = None
    ) -> str:
        """A part's PUT URL; with `content_length` the signature covers the part's exact size as well."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        if content_length is not None:
            params["ContentLength"] = content_length
        return await self._s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[CompletedPart]) -> None:
        await self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p.part_number, "ETag": p.etag} for p in sorted(parts, key=lambda p: p.part_number)
                ]
            },
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size and type, or None when it does not exist."""
        try:
            head = await self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            content_type=head.get("ContentType", "application/octet-stream"),
            etag=head.get("ETag", "").strip('"'),
        )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; a missing object is a permanent failure of the job."""
        try:
            response = await self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise PermanentError("object_missing", f"the object {key!r} is not in storage") from error
            raise
        async with response["Body"] as body:
            while chunk := await body.read(_CHUNK):
                yield chunk

    async def download_to(self, key: str, path: Path) -> int:
        """Stream an object to a local file without holding it in memory; returns the bytes written."""
        written = 0
        with path.open("wb") as out:
            async for chunk in self.stream(key):
                out.write(chunk)
                written += len(chunk)
        return written

    async def upload_file(self, path: Path, key: str, content_type: str) -> int:
        """Upload a local file, in parts when it is large, so memory stays bounded."""
        size = path.stat().st_size  # noqa: ASYNC240 (one stat of a local file)
        if size < _MIN_PART:
            data = await asyncio.to_thread(path.read_bytes)
            await self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
            return size
        upload_id = await self.create_multipart(key, content_type)
        parts: list[CompletedPart] = []
        try:
            with path.open("rb") as source:
                while data := source.read(_MIN_PART):
                    number = len(parts) + 1
                    part = await self._s3.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
                    )
                    parts.append(CompletedPart(part_number=number, etag=part["ETag"]))
            await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            await self.abort_multipart(key, upload_id)
            raise
        return size

    async def copy_object(self, source_key: str, target_key: str) -> ObjectInfo:
        """Server-side copy within the bucket (no bytes pass through us); returns what was written.

        The copy keeps the source's metadata and type; the result comes from a HEAD of the target, so the caller
        checks what is stored there, not what the source said a moment earlier.
        """
        try:
            await self._s3.copy_object(
                Bucket=self.bucket, Key=target_key, CopySource={"Bucket": self.bucket, "Key": source_key}
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise PermanentError("object_missing", f"the object {source_key!r} is not in storage") from error
            raise
        info = await self.head(target_key)
        if info is None:
            raise PermanentError("object_missing", f"the copy {target_key!r} is not in storage")
        return info

    async def delete_object(self, key: str) -> None:
        await self._s3.delete_object(Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix (a media's upload and derived files); returns how many."""
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys: list[Any] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                await self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted


@contextlib.asynccontextmanager
async def open_storage(settings: AWSSettings) -> AsyncIterator[Storage]:
    session = get_session()
    endpoint = settings.s3_endpoint()
    async with session.create_client(
        "s3", region_name=settings.region, endpoint_url=endpoint, config=client_config()
    ) as client:
        yield Storage(client, settings.bucket)
