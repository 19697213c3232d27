"""Upload, start processing, status and results: the routes the frontend and `vidpipe process` use."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import structlog
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe.messages import JobOptions, ModerateRequest
from vidpipe.storage import CompletedPart
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.queueing import queue_task
from vidpipe_gateway.schemas import (
    AbortUploadRequest,
    CompleteUploadRequest,
    StartProcessingRequest,
    StartProcessingResponse,
    TaskStatusResponse,
    UploadPart,
    UploadUrlRequest,
    UploadUrlResponse,
)
from vidpipe_gateway.status import task_status

log = structlog.get_logger("vidpipe.gateway")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(filename: str) -> str:
    """The last path component with anything unusual replaced, so keys stay predictable and prefix-bound."""
    name = _UNSAFE.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip("._") or "video"
    return name[:120]


def user_prefix(user: CurrentUser) -> str:
    return f"uploads/{user.id}/"


class VideoController(Controller):
    path = "/api/video"
    tags = ("videos",)

    @post("/upload-url", status_code=201, summary="Reserve a media id and get a presigned upload")
    async def upload_url(
        self, request: Request[CurrentUser, Any, Any], state: State, data: JSONBody[UploadUrlRequest]
    ) -> UploadUrlResponse:
        gateway = state.settings.gateway
        content_type = data.content_type.lower()
        if content_type not in gateway.allowed_content_types:
            raise ApiError(415, "unsupported_content_type", f"{data.content_type!r} is not an accepted video type")
        if data.size == 0:
            raise ApiError(400, "empty_upload", "the file is empty (0 bytes)")
        if data.size > gateway.max_upload_bytes:
            raise ApiError(413, "upload_too_large", f"uploads are limited to {gateway.max_upload_bytes} bytes")
        user = request.user
        media_id = uuid.uuid4()
        key = f"{user_prefix(user)}{media_id}/{safe_filename(data.filename)}"
        expires_at = datetime.now(UTC) + timedelta(seconds=gateway.presign_expiry_s)
        storage = state.storage
        if data.size < gateway.multipart_threshold_bytes:
            url = await storage.presigned_put(key, content_type, gateway.presign_expiry_s, data.size)
            upload_id = None
            response = UploadUrlResponse(
                media_id=media_id,
                object_key=key,
                method="PUT",
                expires_at=expires_at,
                url=url,
                headers={"Content-Type": content_type},
            )
        else:
            upload_id = await storage.create_multipart(key, content_type)
            count = math.ceil(data.size / gateway.multipart_part_bytes)
            parts = [
                UploadPart(
                    part_number=n,
                    url=await storage.presigned_part(key, upload_id, n, gateway.presign_expiry_s),
                )
                for n in range(1, count + 1)
            ]
            response = UploadUrlResponse(
                media_id=media_id,
                object_key=key,
                method="MULTIPART",
                expires_at=expires_at,
                upload_id=upload_id,
                part_size=gateway.multipart_part_bytes,
                parts=parts,
            )
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(
                queries.insert_media,
                {
                    "id": media_id,
                    "owner_id": user.id,
                    "object_key": key,
                    "filename": data.filename,
                    "content_type": content_type,
                    "size_bytes": data.size,
                    "upload_id": upload_id,
                },
            )
        return response

    @post("/complete-upload", status_code=200, summary="Complete a multipart upload")
    async def complete_upload(
        self, request: Request[CurrentUser, Any, Any], state: State, data: JSONBody[CompleteUploadRequest]
    ) -> dict[str, str]:
        await _owned_multipart_upload(state, request.user, data.object_key, data.upload_id)
        parts = [CompletedPart(part_number=p.part_number, etag=p.etag) for p in data.parts]
        try:
            await state.storage.complete_multipart(data.object_key, data.upload_id, parts)
        except Exception as error:
            raise ApiError(400, "multipart_incomplete", f"storage refused to complete the upload: {error}") from error
        return {"object_key": data.object_key, "status": "uploaded"}

    @post("/abort-upload", status_code=200, summary="Abort a multipart upload and forget the media")
    async def abort_upload(
        self, request: Request[CurrentUser, Any, Any], state: State, data: JSONBody[AbortUploadRequest]
    ) -> dict[str, str]:
        media = await _owned_multipart_upload(state, request.user, data.object_key, data.upload_id)
        await state.storage.abort_multipart(data.object_key, data.upload_id)
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.delete_media, {"media_id": media["id"]})
        return {"object_key": data.object_key, "status": "aborted"}

    @post("/start-processing", status_code=202, summary="Check the upload and queue the pipeline")
    async def start_processing(
        self, request: Request[CurrentUser, Any, Any], state: State, data: JSONBody[StartProcessingRequest]
    ) -> StartProcessingResponse:
        gateway = state.settings.gateway
        media = await _owned_media_by_key(state, request.user, data.object_key)
        if data.min_speakers and data.max_speakers and data.min_speakers > data.max_speakers:
            raise ApiError(400, "invalid_request", "min_speakers is greater than max_speakers")
        head = await state.storage.head(data.object_key)
        if head is None:
            raise ApiError(409, "upload_missing", "the object was never uploaded (or the upload did not finish)")
        if head.size == 0:
            raise ApiError(400, "empty_upload", "the uploaded file is empty (0 bytes)")
        if head.size > gateway.max_upload_bytes:
            raise ApiError(413, "upload_too_large", f"uploads are limited to {gateway.max_upload_bytes} bytes")
        if not head.content_type.lower().startswith("video/"):
            raise ApiError(415, "unsupported_content_type", f"the stored object is {head.content_type!r}, not a video")
        options = JobOptions(
            language=data.language,
            min_speakers=data.min_speakers,
            max_speakers=data.max_speakers,
            hotwords=data.hotwords,
        )
        trace_id = request.headers.get("x-trace-id") or uuid.uuid4().hex
        async with state.pool.connection() as conn, conn.transaction():
            if await (await conn.execute(queries.live_task_for_media, {"media_id": media["id"]})).fetchone():
                raise ApiError(409, "already_processing", "this video is already being processed")
            await conn.execute(
                queries.confirm_upload,
                {"media_id": media["id"], "size_bytes": head.size, "content_type": head.content_type},
            )
            task = await (
                await conn.execute(
                    queries.insert_task,
                    {
                        "media_id": media["id"],
                        "first_stage": "moderate",
                        "options": Jsonb(_options_json(options)),
                        "trace_id": trace_id,
                    },
                )
            ).fetchone()
        assert task is not None
        message = ModerateRequest(
            task_id=task["id"],
            media_id=media["id"],
            trace_id=trace_id,
            video_key=data.object_key,
            options=options,
        )
        await queue_task(state, message, {"object_key": data.object_key})
        return StartProcessingResponse(task_id=task["id"], media_id=media["id"], status="UPLOAD_COMPLETE")

    @get("/status/{task_id:uuid}", summary="A task's status, stages, progress and error")
    async def status(
        self, request: Request[CurrentUser, Any, Any], state: State, task_id: FromPath[uuid.UUID]
    ) -> TaskStatusResponse:
        async with state.pool.connection() as conn:
            task = await (
                await conn.execute(queries.get_task_for_user, {"task_id": task_id, "owner_id": request.user.id})
            ).fetchone()
            if task is None:
                raise not_found("task")
            return await task_status(conn, task)


async def _owned_media_by_key(state: State, user: CurrentUser, object_key: str) -> dict[str, Any]:
    if not object_key.startswith(user_prefix(user)):
        raise not_found("upload")  # a key outside the caller's prefix is someone else's, or nobody's
    async with state.pool.connection() as conn:
        media = await (
            await conn.execute(queries.get_owned_media_by_key, {"object_key": object_key, "owner_id": user.id})
        ).fetchone()
    if media is None:
        raise not_found("upload")
    return dict(media)


async def _owned_multipart_upload(state: State, user: CurrentUser, object_key: str, upload_id: str) -> dict[str, Any]:
    media = await _owned_media_by_key(state, user, object_key)
    if media["upload_id"] != upload_id:
        raise ApiError(409, "upload_mismatch", "no such multipart upload for this object")
    return media


def _options_json(options: JobOptions) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(options)
    return result
