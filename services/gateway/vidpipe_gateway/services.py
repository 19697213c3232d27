"""The gateway's use cases: each owns its SQL, storage and queue calls; controllers only parse and call them.

`Backends` is what a use case may touch, opened once per process by the runtime and handed over typed.
Authorization lives here too (who owns or may read a media), next to the queries that enforce it.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.errors import PermanentError
from vidpipe.messages import JobOptions, ModerateRequest, StageMessage, SummarizeRequest, stage_of
from vidpipe.queues import QueueUrls, send_stage_message
from vidpipe.settings import GatewaySettings, Settings
from vidpipe.storage import CompletedPart, ObjectInfo, Storage
from vidpipe.voices import forget_media_voices, learn_voice, lock_owner_voices
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.inputs import require_safe, safe_filename, strip_unsafe
from vidpipe_gateway.results import latest_transcript, media_list_item, media_response, speakers_body, transcript_body
from vidpipe_gateway.schemas import (
    AbortUploadRequest,
    CompleteUploadRequest,
    EditRecord,
    MediaPage,
    MediaResponse,
    Segment,
    SegmentTextUpdate,
    SpeakerNamesUpdate,
    SpeakersResponse,
    StartProcessingRequest,
    StartProcessingResponse,
    TaskStatusResponse,
    UploadPart,
    UploadUrlRequest,
    UploadUrlResponse,
    VisibilityUpdate,
)
from vidpipe_gateway.status import task_status
from vidpipe_gateway.subtitles import Subtitles, render_subtitles

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("vidpipe.gateway")

UNREACHABLE = "the processing queue could not be reached; try again"
_TRACE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_DAY = timedelta(hours=24)
# What a reservation in the upload ledger is: a video (or recording), or the image of a note.
UploadKind = Literal["media", "image"]
LIVE = frozenset({"PENDING", "UPLOAD_COMPLETE", "PROCESSING"})


def trace_id_from(header: str | None) -> str:
    """The caller's trace id if it is a plain token (it lands in logs, rows and SQS attributes), else a new one."""
    return header if header and _TRACE_ID.match(header) else uuid.uuid4().hex


class Backends:
    """Everything a use case may touch, opened once per process."""

    def __init__(
        self, settings: Settings, pool: AsyncConnectionPool[Any], storage: Storage, sqs: SQSClient, queues: QueueUrls
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.storage = storage
        self.sqs = sqs
        self.queues = queues


async def _one(conn: AsyncConnection[Any], query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
    return row


async def _queue(conn: AsyncConnection[Any], message: StageMessage, detail: dict[str, Any]) -> None:
    """Inside the caller's transaction: PENDING → UPLOAD_COMPLETE with its `queued` event (before any send)."""
    row = await _one(
        conn,
        queries.gateway_queue_task,
        {"task_id": message.task_id, "stage": stage_of(message), "detail": Jsonb(detail)},
    )
    assert row is not None, "a task just inserted is PENDING"


async def _send(backends: Backends, message: StageMessage) -> None:
    """Send the first message of a task already marked queued; if SQS is unreachable the task ends FAILED."""
    try:
        await send_stage_message(backends.sqs, backends.queues, message)
    except Exception as error:
        log.error("queue_send_failed", task_id=str(message.task_id), error=repr(error))
        async with backends.pool.connection() as conn, conn.transaction():
            await conn.execute(
                queries.gateway_fail_unsent_task,
                {
                    "task_id": message.task_id,
                    "error_code": "queue_unavailable",
                    "error_message": UNREACHABLE,
                    "detail": Jsonb({"code": "queue_unavailable", "message": UNREACHABLE}),
                },
            )
        raise ApiError(503, "queue_unavailable", UNREACHABLE) from error
    log.info("task_queued", task_id=str(message.task_id), media_id=str(message.media_id), trace_id=message.trace_id)


async def check_daily_quota(
    conn: AsyncConnection[Any], gw: GatewaySettings, user: CurrentUser, size: int, *, kind: UploadKind
) -> None:
    """Refuse (429) a reservation past the user's 24-hour limits: bytes for videos and note images alike, the
    number of uploads for videos. Locks the user's row, so concurrent reservations take turns."""
    await conn.execute(queries.gateway_lock_user, {"user_id": user.id})
    usage = await _one(conn, queries.gateway_upload_usage, {"user_id": user.id})
    assert usage is not None

    def retry_after(oldest: datetime | None) -> int:
        # When the oldest reservation counted by the limit leaves the 24-hour window.
        return int((oldest + _DAY - datetime.now(UTC)).total_seconds()) if oldest else 3600

    if kind == "media" and gw.daily_uploads and usage["uploads"] >= gw.daily_uploads:
        raise ApiError(
            429,
            "quota_exceeded",
            f"at most {gw.daily_uploads} uploads per 24 hours",
            retry_after_s=retry_after(usage["oldest_upload"]),
        )
    if gw.daily_upload_bytes and usage["bytes"] + size > gw.daily_upload_bytes:
        raise ApiError(
            429,
            "quota_exceeded",
            f"uploads are limited to {gw.daily_upload_bytes} bytes per 24 hours ({usage['bytes']} already reserved)",
            retry_after_s=retry_after(usage["oldest"]),
        )


async def record_upload(
    conn: AsyncConnection[Any], user: CurrentUser, media_id: uuid.UUID, size: int, *, kind: UploadKind
) -> None:
    """Count a reservation toward the daily limits (never refunded, not even by deleting the media)."""
    await conn.execute(
        queries.gateway_record_upload, {"user_id": user.id, "media_id": media_id, "size_bytes": size, "kind": kind}
    )


async def _check_live_task_quota(backends: Backends, conn: AsyncConnection[Any], user: CurrentUser) -> None:
    """Inside the caller's transaction (which then holds the user's lock): 429 at the concurrent-task cap."""
    limit = backends.settings.gateway.max_live_tasks_per_user
    await conn.execute(queries.gateway_lock_user, {"user_id": user.id})
    live = await _one(conn, queries.gateway_live_tasks_for_user, {"user_id": user.id})
    if limit and live is not None and live["live"] >= limit:
        raise ApiError(
            429, "too_many_tasks", f"at most {limit} of your videos can be processed at a time", retry_after_s=60
        )


async def _insert_task(
    conn: AsyncConnection[Any], media_id: uuid.UUID, first_stage: str, options: dict[str, Any], trace_id: str
) -> uuid.UUID:
    """A PENDING task; the partial unique index refuses a second live task of the same media (409)."""
    try:
        async with conn.transaction():  # a savepoint: the conflict must not poison the caller's transaction
            row = await _one(
                conn,
                queries.insert_task,
                {"media_id": media_id, "first_stage": first_stage, "options": Jsonb(options), "trace_id": trace_id},
            )
    except UniqueViolation as error:
        raise ApiError(409, "already_processing", "this video is already being processed") from error
    assert row is not None
    task_id: uuid.UUID = row["id"]
    return task_id


class UploadService:
    """Reserve an upload, finish or abandon a multipart one, start processing, read a task's status."""

    def __init__(self, backends: Backends) -> None:
        self._b = backends
        self._gw = backends.settings.gateway

    async def reserve(self, user: CurrentUser, data: UploadUrlRequest) -> UploadUrlResponse:
        gw = self._gw
        content_type = data.content_type.lower()
        if content_type not in gw.allowed_content_types:
            raise ApiError(
                415, "unsupported_content_type", f"{data.content_type!r} is not an accepted video or audio type"
            )
        if data.size == 0:
            raise ApiError(400, "empty_upload", "the file is empty (0 bytes)")
        if data.size > gw.max_upload_bytes:
            raise ApiError(413, "upload_too_large", f"uploads are limited to {gw.max_upload_bytes} bytes")
        part_count = math.ceil(data.size / gw.multipart_part_bytes)
        multipart = data.size >= gw.multipart_threshold_bytes
        if multipart and part_count > gw.max_multipart_parts:
            raise ApiError(413, "upload_too_large", f"an upload may have at most {gw.max_multipart_parts} parts")
        filename = strip_unsafe(data.filename).strip() or "video"
        media_id = uuid.uuid4()
        key = f"uploads/{user.id}/{media_id}/{safe_filename(filename)}"
        expires_at = datetime.now(UTC) + timedelta(seconds=gw.presign_expiry_s)
        async with self._b.pool.connection() as conn, conn.transaction():
            await check_daily_quota(conn, gw, user, data.size, kind="media")
            upload_id = await self._b.storage.create_multipart(key, content_type) if multipart else None
            await conn.execute(
                queries.insert_media,
                {
                    "id": media_id,
                    "owner_id": user.id,
                    "object_key": key,
                    "filename": filename,
                    "content_type": content_type,
                    "size_bytes": data.size,
                    "upload_id": upload_id,
                },
            )
            await record_upload(conn, user, media_id, data.size, kind="media")
        if upload_id is None:
            url = await self._b.storage.presigned_put(key, content_type, gw.presign_expiry_s, data.size)
            return UploadUrlResponse(
                media_id=media_id,
                object_key=key,
                method="PUT",
                expires_at=expires_at,
                url=url,
                headers={"Content-Type": content_type},
            )
        # Every part URL signs its exact length, so no part can be bigger than the reservation allows.
        parts = [
            UploadPart(
                part_number=n,
                url=await self._b.storage.presigned_part(
                    key,
                    upload_id,
                    n,
                    gw.presign_expiry_s,
                    content_length=_part_size(data.size, gw.multipart_part_bytes, n),
                ),
            )
            for n in range(1, part_count + 1)
        ]
        return UploadUrlResponse(
            media_id=media_id,
            object_key=key,
            method="MULTIPART",
            expires_at=expires_at,
            upload_id=upload_id,
            part_size=gw.multipart_part_bytes,
            parts=parts,
        )

    async def complete(self, user: CurrentUser, data: CompleteUploadRequest) -> dict[str, str]:
        media = await self._multipart_media(user, data.object_key, data.upload_id)
        expected = math.ceil(media["size_bytes"] / self._gw.multipart_part_bytes)
        if sorted(p.part_number for p in data.parts) != list(range(1, expected + 1)):
            raise ApiError(400, "multipart_incomplete", f"the upload has exactly {expected} parts, numbered from 1")
        parts = [CompletedPart(part_number=p.part_number, etag=p.etag) for p in data.parts]
        try:
            await self._b.storage.complete_multipart(data.object_key, data.upload_id, parts)
        except Exception as error:
            raise ApiError(400, "multipart_incomplete", "storage refused to complete the upload") from error
        return {"object_key": data.object_key, "status": "uploaded"}

    async def abort(self, user: CurrentUser, data: AbortUploadRequest) -> dict[str, str]:
        media = await self._multipart_media(user, data.object_key, data.upload_id)
        await self._b.storage.abort_multipart(data.object_key, data.upload_id)
        async with self._b.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.delete_media, {"media_id": media["id"]})
        return {"object_key": data.object_key, "status": "aborted"}

    async def _multipart_media(self, user: CurrentUser, object_key: str, upload_id: str) -> dict[str, Any]:
        async with self._b.pool.connection() as conn, conn.transaction():
            media = await self._media_by_key(conn, user, object_key)
        if media["upload_id"] != upload_id:
            raise ApiError(409, "upload_mismatch", "no such multipart upload for this object")
        return media

    async def _media_by_key(self, conn: AsyncConnection[Any], user: CurrentUser, object_key: str) -> dict[str, Any]:
        """The caller's media with this upload key, row-locked until the caller's transaction ends."""
        if not object_key.startswith(f"uploads/{user.id}/"):
            raise not_found("upload")  # a key outside the caller's prefix is someone else's, or nobody's
        media = await _one(conn, queries.gateway_media_by_key, {"object_key": object_key, "owner_id": user.id})
        if media is None:
            raise not_found("upload")
        return media

    async def start(self, user: CurrentUser, data: StartProcessingRequest, trace_id: str) -> StartProcessingResponse:
        """Claim the media with a PENDING task, pin and check the upload, mark it queued, then send."""
        if data.min_speakers and data.max_speakers and data.min_speakers > data.max_speakers:
            raise ApiError(400, "invalid_request", "min_speakers is greater than max_speakers")
        hotwords = require_safe(data.hotwords, "hotwords", fold_breaks=True) if data.hotwords else None
        options = JobOptions(
            language=data.language, min_speakers=data.min_speakers, max_speakers=data.max_speakers, hotwords=hotwords
        )
        pool = self._b.pool
        async with pool.connection() as conn, conn.transaction():
            media = await self._media_by_key(conn, user, data.object_key)
            latest = await _one(conn, queries.gateway_latest_task_status, {"media_id": media["id"]})
            if latest and latest["status"] in LIVE:
                raise ApiError(409, "already_processing", "this video is already being processed")
            if latest and latest["status"] == "COMPLETED" and not data.reprocess:
                raise ApiError(
                    409, "already_processed", "this video was processed already; send reprocess: true to redo it"
                )
            await _check_live_task_quota(self._b, conn, user)
            task_id = await _insert_task(conn, media["id"], "moderate", msgspec.to_builtins(options), trace_id)
        try:
            source = media["source_key"] or await self._pin(media, task_id)
        except BaseException:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(queries.gateway_delete_unstarted_task, {"task_id": task_id})
            raise
        message = ModerateRequest(
            task_id=task_id, media_id=media["id"], trace_id=trace_id, video_key=source, options=options
        )
        async with pool.connection() as conn, conn.transaction():
            await _queue(conn, message, {"object_key": source})
        await _send(self._b, message)
        return StartProcessingResponse(task_id=task_id, media_id=media["id"], status="UPLOAD_COMPLETE")

    async def _pin(self, media: dict[str, Any], task_id: uuid.UUID) -> str:
        """Copy the upload to a key only the server writes, check the copy, delete the client-writable original.

        The copy is what moderation checks and what viewers are served; the presigned PUT (valid for minutes
        more) can then only write to a key nothing reads. The checks run on the copy, so an upload replaced
        between a check and the copy cannot slip through.
        """
        storage = self._b.storage
        target = f"media/{media['id']}/source/{task_id}/{safe_filename(media['filename'])}"
        try:
            stored = await storage.copy_object(media["object_key"], target)
        except PermanentError as error:
            raise ApiError(
                409, "upload_missing", "the object was never uploaded (or the upload did not finish)"
            ) from error
        problem = self._problem_with(stored, media)
        if problem is not None:
            await storage.delete_object(target)
            raise problem
        async with self._b.pool.connection() as conn, conn.transaction():
            await conn.execute(
                queries.gateway_pin_source,
                {
                    "media_id": media["id"],
                    "source_key": target,
                    "size_bytes": stored.size,
                    "content_type": stored.content_type.lower(),
                },
            )
        await storage.delete_object(media["object_key"])
        log.info("upload_pinned", media_id=str(media["id"]), size=stored.size)
        return target

    def _problem_with(self, stored: ObjectInfo, media: dict[str, Any]) -> ApiError | None:
        """What is wrong with the stored object compared with what the upload declared, if anything."""
        gw = self._gw
        stored_type = stored.content_type.lower()
        if stored.size == 0:
            return ApiError(400, "empty_upload", "the uploaded file is empty (0 bytes)")
        if stored.size > gw.max_upload_bytes:
            return ApiError(413, "upload_too_large", f"uploads are limited to {gw.max_upload_bytes} bytes")
        if stored_type not in gw.allowed_content_types:
            return ApiError(
                415,
                "unsupported_content_type",
                f"the stored object is {stored.content_type!r}, not a video or audio recording",
            )
        if stored_type != media["content_type"] or stored.size != media["size_bytes"]:
            return ApiError(
                409,
                "upload_mismatch",
                f"the upload was declared as {media['size_bytes']} bytes of {media['content_type']} but "
                f"{stored.size} bytes of {stored.content_type} were stored",
            )
        return None

    async def status(self, user: CurrentUser, task_id: uuid.UUID) -> TaskStatusResponse:
        async with self._b.pool.connection() as conn:
            task = await _one(conn, queries.get_task_for_user, {"task_id": task_id, "owner_id": user.id})
            if task is None:
                raise not_found("task")
            return await task_status(conn, task)

    async def load_status(self, task_id: uuid.UUID) -> TaskStatusResponse | None:
        """Any task's status (the caller checked access), or None once it is gone: what live streams share."""
        async with self._b.pool.connection() as conn:
            task = await _one(conn, queries.get_task, {"task_id": task_id})
            return await task_status(conn, task) if task is not None else None


def _part_size(total: int, part_bytes: int, number: int) -> int:
    return min(part_bytes, total - (number - 1) * part_bytes)


def _encode_cursor(created_at: datetime, media_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{media_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, media_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(media_id)
    except ValueError as error:
        raise ApiError(400, "invalid_cursor", "the page cursor is not one this server issued") from error


class MediaService:
    """A user's media: list, read, edit with history, export, re-summarise, delete."""

    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def _readable(
        self, conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser | None
    ) -> dict[str, Any]:
        """The media row if the viewer may read it; otherwise 404, exactly as if it did not exist."""
        row = await _one(
            conn, queries.gateway_readable_media, {"media_id": media_id, "viewer_id": viewer.id if viewer else None}
        )
        if row is None:
            raise not_found("media")
        return row

    async def _owned(self, conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser) -> dict[str, Any]:
        """The media row if the viewer owns it: readers who are not the owner get 403, everyone else 404."""
        row = await self._readable(conn, media_id, viewer)
        if not row["is_owner"]:
            raise ApiError(403, "forbidden", "only the owner can do this")
        return row

    async def _transcript(self, conn: AsyncConnection[Any], media_id: uuid.UUID) -> dict[str, Any]:
        transcript = await latest_transcript(conn, media_id)
        if transcript is None:
            raise ApiError(409, "no_transcript", "this media has no transcript yet")
        return transcript

    async def _response(self, conn: AsyncConnection[Any], media: dict[str, Any]) -> MediaResponse:
        # Only the pinned copy is ever served: the upload key stays client-writable for a while.
        source = media["source_key"] if may_see_picture(media) else None
        expiry = self._b.settings.gateway.video_url_expiry_s
        video_url = await self._b.storage.presigned_get(source, expires_s=expiry) if source else None
        return await media_response(conn, media, video_url)

    async def page(
        self, user: CurrentUser, limit: int, cursor: str | None, statuses: list[str] | None = None
    ) -> MediaPage:
        before_created_at, before_id = _decode_cursor(cursor) if cursor else (None, None)
        async with self._b.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    queries.editor_list_media_for_owner,
                    {
                        "owner_id": user.id,
                        "before_created_at": before_created_at,
                        "before_id": before_id,
                        "limit": limit + 1,
                        "statuses": statuses or None,
                    },
                )
            ).fetchall()
        items = [await media_list_item(self._b, r) for r in rows[:limit]]
        next_cursor = (
            _encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        )
        return MediaPage(items=items, next_cursor=next_cursor)

    async def get(self, viewer: CurrentUser | None, media_id: uuid.UUID) -> MediaResponse:
        async with self._b.pool.connection() as conn:
            return await self._response(conn, await self._readable(conn, media_id, viewer))

    async def set_visibility(self, user: CurrentUser, media_id: uuid.UUID, data: VisibilityUpdate) -> MediaResponse:
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                await self._owned(conn, media_id, user)
                row = await _one(conn, queries.set_visibility, {"media_id": media_id, "visibility": data.visibility})
                assert row is not None
                await self._record_edit(
                    conn, media_id, None, user, "visibility", str(media_id), row["old_visibility"], data.visibility
                )
            return await self._response(conn, await self._readable(conn, media_id, user))

    async def rename_speakers(
        self, user: CurrentUser, media_id: uuid.UUID, data: SpeakerNamesUpdate
    ) -> SpeakersResponse:
        names = {
            require_safe(label, "speaker label"): (
                require_safe(raw or "", "speaker name", fold_breaks=True).strip() or None
            )
            for label, raw in data.names.items()
        }
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                await self._owned(conn, media_id, user)
                await lock_owner_voices(conn, user.id)
                transcript = await self._transcript(conn, media_id)
                for label, name in names.items():
                    row = await _one(
                        conn, queries.rename_speaker, {"transcript_id": transcript["id"], "label": label, "name": name}
                    )
                    if row is None:
                        raise ApiError(400, "unknown_speaker", f"the transcript has no speaker {label!r}")
                    await self._record_edit(
                        conn, media_id, transcript["id"], user, "speaker_name", label, row["old_name"], name
                    )
                    # A named voice becomes (part of) the owner's voice profile of that name.
                    await learn_voice(conn, transcript["id"], label, name)
            speakers = await speakers_body(conn, transcript["id"])
        return SpeakersResponse(speakers=speakers)

    async def edit_segment(self, user: CurrentUser, media_id: uuid.UUID, idx: int, data: SegmentTextUpdate) -> Segment:
        text = require_safe(data.text, "text", fold_breaks=True).strip()
        if not text:
            raise ApiError(400, "invalid_request", "a segment's text cannot be empty")
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                await self._owned(conn, media_id, user)
                transcript = await self._transcript(conn, media_id)
                row = await _one(
                    conn, queries.edit_segment_text, {"transcript_id": transcript["id"], "idx": idx, "text": text}
                )
                if row is None:
                    raise not_found("segment")
                await self._record_edit(
                    conn, media_id, transcript["id"], user, "segment_text", str(idx), row["old_text"], text
                )
            body = await transcript_body(conn, transcript)
        return next(s for s in body.segments if s.idx == idx)

    async def _record_edit(
        self,
        conn: AsyncConnection[Any],
        media_id: uuid.UUID,
        transcript_id: uuid.UUID | None,
        user: CurrentUser,
        target: str,
        target_key: str,
        old_value: str | None,
        new_value: str | None,
    ) -> None:
        await conn.execute(
            queries.insert_edit,
            {
                "media_id": media_id,
                "transcript_id": transcript_id,
                "editor_id": user.id,
                "target": target,
                "target_key": target_key,
                "old_value": old_value,
                "new_value": new_value,
            },
        )

    async def edits(self, user: CurrentUser, media_id: uuid.UUID) -> list[EditRecord]:
        """Owners only: the history holds earlier wording and who edited, which readers were never shown."""
        async with self._b.pool.connection() as conn:
            await self._owned(conn, media_id, user)
            rows = await (await conn.execute(queries.edits_for_media, {"media_id": media_id})).fetchall()
        return [EditRecord(**r) for r in rows]

    async def subtitles(
        self, viewer: CurrentUser | None, media_id: uuid.UUID, kind: Literal["srt", "vtt"]
    ) -> Subtitles:
        async with self._b.pool.connection() as conn:
            media = await self._readable(conn, media_id, viewer)
            body = await transcript_body(conn, await self._transcript(conn, media_id))
        return render_subtitles(body, media["filename"], kind)

    async def resummarize(self, user: CurrentUser, media_id: uuid.UUID, trace_id: str) -> StartProcessingResponse:
        async with self._b.pool.connection() as conn, conn.transaction():
            await self._owned(conn, media_id, user)
            latest = await _one(conn, queries.gateway_latest_task_status, {"media_id": media_id})
            if latest and latest["status"] in LIVE:
                raise ApiError(409, "already_processing", "this video is already being processed")
            transcript = await self._transcript(conn, media_id)
            await _check_live_task_quota(self._b, conn, user)
            task_id = await _insert_task(conn, media_id, "summarize", {}, trace_id)
            message = SummarizeRequest(
                task_id=task_id, media_id=media_id, trace_id=trace_id, transcript_id=transcript["id"]
            )
            await _queue(conn, message, {"rerun": True})
        await _send(self._b, message)
        return StartProcessingResponse(task_id=task_id, media_id=media_id, status="UPLOAD_COMPLETE")

    async def delete(self, user: CurrentUser, media_id: uuid.UUID) -> None:
        async with self._b.pool.connection() as conn:
            media = await self._owned(conn, media_id, user)
        # Objects first: if this fails the rows remain and the user can retry; rows without objects would not.
        upload_prefix = media["object_key"].rsplit("/", 1)[0] + "/"
        await self._b.storage.delete_prefix(upload_prefix)
        await self._b.storage.delete_prefix(f"media/{media_id}/")
        async with self._b.pool.connection() as conn, conn.transaction():
            voices = await delete_media_rows(conn, media_id, owner_id=user.id)
        # Once more: a stage that stored its files between the first pass and the rows' delete committed its
        # results before them (a stage finishing after the delete finds its task gone and removes its own).
        await self._b.storage.delete_prefix(f"media/{media_id}/")
        log.info("media_deleted", media_id=str(media_id), voices_taken_back=voices)


def may_see_picture(media: dict[str, Any]) -> bool:
    """Whether the reader of a `gateway_readable_media` row may see the video itself (player, thumbnail): its
    owner always; anyone else only once moderation allowed it (not while it is checked, flagged for review or
    rejected, whatever its visibility: sharing such a video shares the transcript, not the picture)."""
    return bool(media["is_owner"] or media["moderation_verdict"] == "allowed")


async def delete_media_rows(conn: AsyncConnection[Any], media_id: uuid.UUID, *, owner_id: uuid.UUID) -> int:
    """A media's rows, in the caller's transaction, with the voices its speakers gave the owner's profiles
    (see `forget_media_voices`); returns how many voices were taken back. Locks in the order a completing
    stage takes them: the media's stage runs, then the owner's voices."""
    await conn.execute(queries.media_stage_runs_for_update, {"media_id": media_id})
    await lock_owner_voices(conn, owner_id)
    voices = await forget_media_voices(conn, media_id)
    await conn.execute(queries.delete_media, {"media_id": media_id})
    return voices


class PeopleService:
    """Friends: a directed relation (I let you read my friends-visible media)."""

    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def friends(self, user: CurrentUser) -> list[dict[str, Any]]:
        async with self._b.pool.connection() as conn:
            rows = await (await conn.execute(queries.list_friends, {"user_id": user.id})).fetchall()
        return [dict(r) for r in rows]

    async def add_friend(self, user: CurrentUser, subject: str) -> None:
        require_safe(subject, "subject")
        if not subject.strip():
            raise ApiError(400, "invalid_request", "the subject is empty")
        if subject == user.subject:
            raise ApiError(400, "invalid_request", "you cannot befriend yourself")
        # Same answer whether or not the subject has signed in: the route must not probe for accounts.
        async with self._b.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.gateway_ensure_user, {"subject": subject})
            await conn.execute(queries.add_friend, {"user_id": user.id, "friend_subject": subject})

    async def remove_friend(self, user: CurrentUser, subject: str) -> None:
        async with self._b.pool.connection() as conn, conn.transaction():
            row = await _one(conn, queries.remove_friend, {"user_id": user.id, "friend_subject": subject})
        if row is None:
            raise not_found("friend")
