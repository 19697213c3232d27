"""Notes and images pinned to a moment of a transcript: `/api/media/{id}/annotations`.

Readers of the media (the same rule as `GET /api/media/{id}`: the `gateway_readable_media` query) see them;
only the owner adds, edits and deletes. Images travel like videos: the gateway reserves a presigned PUT
(type and exact size signed), and the image counts only after `confirm` copied the upload to a server-owned
key and checked the copy (HEAD: size and type; first bytes: the format's signature). Readers get short-lived
presigned GETs of that copy. Objects go with their annotation, and with the media (both keys live under the
prefixes `MediaService.delete` removes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import structlog
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter
from psycopg import AsyncConnection

from vidpipe.db.queries import queries
from vidpipe.errors import PermanentError
from vidpipe.storage import ObjectInfo
from vidpipe_gateway.auth import AUTH_OPTIONAL, CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.inputs import require_safe
from vidpipe_gateway.results import latest_transcript
from vidpipe_gateway.services import Backends, check_daily_quota, record_upload

log = structlog.get_logger("vidpipe.gateway")

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_ANNOTATIONS_PER_MEDIA = 500
# A reserved image not confirmed this long after its upload URL expired is discarded (see reserve_image).
STALE_RESERVATION_GRACE_S = 3600
MAX_NOTE_CHARS = 5000
MAX_CAPTION_CHARS = 500
# What a browser shows in <img> everywhere, with the bytes each format starts with (checked after upload:
# a HEAD only reports the type the client declared).
IMAGE_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ("jpg", (b"\xff\xd8\xff",)),
    "image/gif": ("gif", (b"GIF87a", b"GIF89a")),
    "image/webp": ("webp", (b"RIFF",)),  # plus "WEBP" at offset 8, checked below
}

Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
SegmentIndex = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
NoteText = Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)]
Caption = Annotated[str, msgspec.Meta(max_length=MAX_CAPTION_CHARS)]
AnnotationId = Annotated[uuid.UUID, PathParameter(description="annotation id")]
MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]


class Annotation(msgspec.Struct, frozen=True):
    id: uuid.UUID
    media_id: uuid.UUID
    kind: Literal["note", "image"]
    time_s: float
    after_segment: int | None
    """Shown after this segment (between it and the next) rather than by time alone."""
    text: str
    """The note, or the image's caption."""
    created_at: datetime
    updated_at: datetime
    image_url: str | None = None
    """A short-lived presigned GET of the checked copy (images only)."""
    content_type: str | None = None
    size_bytes: int | None = None


class NoteCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    time_s: Seconds
    text: NoteText
    after_segment: SegmentIndex | None = None


class ImageCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    time_s: Seconds
    content_type: Annotated[str, msgspec.Meta(min_length=3, max_length=127)]
    size: Annotated[int, msgspec.Meta(ge=0)]
    caption: Caption = ""
    after_segment: SegmentIndex | None = None


class ImageUpload(msgspec.Struct, frozen=True):
    """PUT the image's bytes to `url` with `headers`, then POST `.../annotations/{id}/confirm`."""

    annotation: Annotation
    method: Literal["PUT"]
    url: str
    headers: dict[str, str]
    expires_at: datetime


class AnnotationUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Fields left out keep their value; a new `time_s` without `after_segment` places it by time alone."""

    text: NoteText | None = None
    time_s: Seconds | None = None
    after_segment: SegmentIndex | None = None


async def _one(conn: AsyncConnection[Any], query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
    return row


async def readable_media(conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser | None) -> dict[str, Any]:
    """The media row if the viewer may read it (the gateway's one read rule); otherwise 404."""
    row = await _one(
        conn, queries.gateway_readable_media, {"media_id": media_id, "viewer_id": viewer.id if viewer else None}
    )
    if row is None:
        raise not_found("media")
    return row


async def owned_media(conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser) -> dict[str, Any]:
    """The media row if the viewer owns it: readers who are not the owner get 403, everyone else 404."""
    row = await readable_media(conn, media_id, viewer)
    if not row["is_owner"]:
        raise ApiError(403, "forbidden", "only the owner can do this")
    return row


def _note_text(text: str, field: str, *, required: bool) -> str:
    """Line breaks are the writer's own; other control and bidi-override characters are refused (422)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    require_safe(text.replace("\n", " ").replace("\t", " "), field)
    if required and not text:
        raise ApiError(400, "empty_note", "a note needs some text")
    return text


def _problem_with(stored: ObjectInfo, declared_type: str, declared_size: int) -> ApiError | None:
    stored_type = stored.content_type.lower()
    if stored.size == 0:
        return ApiError(400, "empty_upload", "the uploaded image is empty (0 bytes)")
    if stored.size > MAX_IMAGE_BYTES:
        return ApiError(413, "image_too_large", f"images are limited to {MAX_IMAGE_BYTES} bytes")
    if stored_type not in IMAGE_TYPES:
        return ApiError(415, "unsupported_image_type", f"the stored object is {stored.content_type!r}, not an image")
    if stored_type != declared_type or stored.size != declared_size:
        return ApiError(
            409,
            "upload_mismatch",
            f"the image was declared as {declared_size} bytes of {declared_type} but "
            f"{stored.size} bytes of {stored.content_type} were stored",
        )
    return None


def _looks_like(head: bytes, content_type: str) -> bool:
    _, signatures = IMAGE_TYPES[content_type]
    if not head.startswith(signatures):
        return False
    return content_type != "image/webp" or head[8:12] == b"WEBP"


class AnnotationService:
    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def to_response(self, row: dict[str, Any]) -> Annotation:
        url = None
        if row["kind"] == "image" and row["image_key"]:
            url = await self._b.storage.presigned_get(
                row["image_key"], expires_s=self._b.settings.gateway.video_url_expiry_s
            )
        return Annotation(
            id=row["id"],
            media_id=row["media_id"],
            kind=row["kind"],
            time_s=row["time_s"],
            after_segment=row["after_segment"],
            text=row["body"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            image_url=url,
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
        )

    async def rows(self, conn: AsyncConnection[Any], media_id: uuid.UUID) -> list[dict[str, Any]]:
        """Ready annotations of a media the caller may read, in transcript order."""
        return await (await conn.execute(queries.notes_for_media, {"media_id": media_id})).fetchall()

    async def for_media(self, viewer: CurrentUser | None, media_id: uuid.UUID) -> list[Annotation]:
        async with self._b.pool.connection() as conn:
            await readable_media(conn, media_id, viewer)
            rows = await self.rows(conn, media_id)
        return [await self.to_response(r) for r in rows]

    async def _check_place(
        self, conn: AsyncConnection[Any], media: dict[str, Any], time_s: float | None, after: int | None
    ) -> None:
        transcript = await latest_transcript(conn, media["id"])
        duration = media["duration_s"] if media["duration_s"] is not None else (transcript or {}).get("duration_s")
        # A little slack: the player's end and the probe's duration differ by a frame or two.
        if time_s is not None and duration is not None and time_s > duration + 1:
            raise ApiError(400, "time_out_of_range", f"time_s is past the end of the video ({duration:.1f} s)")
        if after is not None:
            found = transcript and await _one(
                conn, queries.notes_segment_exists, {"transcript_id": transcript["id"], "idx": after}
            )
            if not found:
                raise ApiError(400, "unknown_segment", f"the transcript has no segment {after}")

    async def _check_room(self, conn: AsyncConnection[Any], media_id: uuid.UUID) -> None:
        count = await _one(conn, queries.notes_count_for_media, {"media_id": media_id})
        if count is not None and count["annotations"] >= MAX_ANNOTATIONS_PER_MEDIA:
            raise ApiError(
                409, "too_many_annotations", f"a video can hold at most {MAX_ANNOTATIONS_PER_MEDIA} notes and images"
            )

    async def add_note(self, user: CurrentUser, media_id: uuid.UUID, data: NoteCreate) -> Annotation:
        text = _note_text(data.text, "text", required=True)
        await self._discard_stale_reservations(user, media_id)
        async with self._b.pool.connection() as conn, conn.transaction():
            media = await owned_media(conn, media_id, user)
            await self._check_place(conn, media, data.time_s, data.after_segment)
            await conn.execute(queries.gateway_lock_user, {"user_id": user.id})  # the count holds until commit
            await self._check_room(conn, media_id)
            row = await _one(
                conn,
                queries.notes_insert_note,
                {
                    "media_id": media_id,
                    "author_id": user.id,
                    "time_s": data.time_s,
                    "after_segment": data.after_segment,
                    "body": text,
                },
            )
        assert row is not None
        return await self.to_response(row)

    async def reserve_image(self, user: CurrentUser, media_id: uuid.UUID, data: ImageCreate) -> ImageUpload:
        content_type = data.content_type.lower()
        if content_type not in IMAGE_TYPES:
            raise ApiError(
                415,
                "unsupported_image_type",
                f"{data.content_type!r} is not an accepted image type ({', '.join(sorted(IMAGE_TYPES))})",
            )
        if data.size == 0:
            raise ApiError(400, "empty_upload", "the image is empty (0 bytes)")
        if data.size > MAX_IMAGE_BYTES:
            raise ApiError(413, "image_too_large", f"images are limited to {MAX_IMAGE_BYTES} bytes")
        caption = _note_text(data.caption, "caption", required=False)
        annotation_id = uuid.uuid4()
        extension = IMAGE_TYPES[content_type][0]
        expiry = self._b.settings.gateway.presign_expiry_s
        await self._discard_stale_reservations(user, media_id)
        async with self._b.pool.connection() as conn, conn.transaction():
            media = await owned_media(conn, media_id, user)
            await self._check_place(conn, media, data.time_s, data.after_segment)
            # Images count toward the owner's daily upload bytes like videos (this locks the user's row).
            await check_daily_quota(conn, self._b.settings.gateway, user, data.size, kind="image")
            await self._check_room(conn, media_id)
            # Under the media's upload prefix, which deleting the media removes with everything else in it.
            upload_key = f"{media['object_key'].rsplit('/', 1)[0]}/annotations/{annotation_id}.{extension}"
            row = await _one(
                conn,
                queries.notes_insert_image,
                {
                    "id": annotation_id,
                    "media_id": media_id,
                    "author_id": user.id,
                    "time_s": data.time_s,
                    "after_segment": data.after_segment,
                    "body": caption,
                    "upload_key": upload_key,
                    "content_type": content_type,
                    "size_bytes": data.size,
                },
            )
            await record_upload(conn, user, media_id, data.size, kind="image")
        assert row is not None
        url = await self._b.storage.presigned_put(upload_key, content_type, expiry, data.size)
        return ImageUpload(
            annotation=await self.to_response(row),
            method="PUT",
            url=url,
            headers={"Content-Type": content_type},
            expires_at=datetime.now(UTC) + timedelta(seconds=expiry),
        )

    async def _discard_stale_reservations(self, user: CurrentUser, media_id: uuid.UUID) -> None:
        """Drop the media's reservations that can no longer be confirmed by the client that made them (its
        URL expired long ago), with whatever was uploaded for them: a client that died between reserving and
        confirming must not use up the cap with images nobody, the owner included, can see or delete."""
        older_than_s = self._b.settings.gateway.presign_expiry_s + STALE_RESERVATION_GRACE_S
        params = {"media_id": media_id, "owner_id": user.id, "older_than_s": older_than_s}
        async with self._b.pool.connection() as conn:
            stale = await (await conn.execute(queries.notes_stale_reservations, params)).fetchall()
        for row in stale:
            # The upload first: if that fails the row stays and the next note or image tries again (the
            # request itself goes on: this is housekeeping, not its work).
            try:
                await self._b.storage.delete_object(row["upload_key"])
            except Exception as error:
                log.warning("annotation_reservation_discard_failed", media_id=str(media_id), error=repr(error))
                return
            async with self._b.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    queries.notes_delete_stale_reservation, {"annotation_id": row["id"], "media_id": media_id}
                )
        if stale:
            log.info("annotation_reservations_discarded", media_id=str(media_id), count=len(stale))

    async def confirm_image(self, user: CurrentUser, media_id: uuid.UUID, annotation_id: uuid.UUID) -> Annotation:
        """Copy the upload to a key only the server writes, check the copy, and only then show the image.

        A refused upload leaves the annotation pending (the client may upload again while its URL lasts, or
        delete it); nothing that was already shown is touched.
        """
        async with self._b.pool.connection() as conn, conn.transaction():
            await owned_media(conn, media_id, user)
            row = await self._row(conn, media_id, annotation_id)
        if row["kind"] != "image":
            raise ApiError(400, "not_an_image", "only image annotations are confirmed")
        if row["state"] == "ready":
            return await self.to_response(row)
        storage = self._b.storage
        image_key = f"media/{media_id}/annotations/{annotation_id}.{IMAGE_TYPES[row['content_type']][0]}"
        try:
            stored = await storage.copy_object(row["upload_key"], image_key)
        except PermanentError as error:
            raise ApiError(
                409, "upload_missing", "the image was never uploaded (or the upload did not finish); PUT it first"
            ) from error
        problem = _problem_with(stored, row["content_type"], row["size_bytes"])
        if problem is None and not _looks_like(await self._first_bytes(image_key), row["content_type"]):
            problem = ApiError(415, "not_an_image", f"the uploaded bytes are not a {row['content_type']} image")
        if problem is not None:
            await storage.delete_object(image_key)
            raise problem
        async with self._b.pool.connection() as conn, conn.transaction():
            ready = await _one(
                conn,
                queries.notes_mark_ready,
                {
                    "annotation_id": annotation_id,
                    "media_id": media_id,
                    "image_key": image_key,
                    "content_type": stored.content_type.lower(),
                    "size_bytes": stored.size,
                },
            )
        if ready is None:  # deleted while we copied: the copy must not outlive it
            await storage.delete_object(image_key)
            raise not_found("annotation")
        await storage.delete_object(row["upload_key"])
        log.info("annotation_image_ready", media_id=str(media_id), annotation_id=str(annotation_id), size=stored.size)
        return await self.to_response(ready)

    async def _first_bytes(self, key: str) -> bytes:
        chunks = self._b.storage.stream(key)
        try:
            return await anext(chunks, b"")
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _row(self, conn: AsyncConnection[Any], media_id: uuid.UUID, annotation_id: uuid.UUID) -> dict[str, Any]:
        row = await _one(conn, queries.notes_get_for_update, {"annotation_id": annotation_id, "media_id": media_id})
        if row is None:
            raise not_found("annotation")
        return row

    async def update(
        self, user: CurrentUser, media_id: uuid.UUID, annotation_id: uuid.UUID, data: AnnotationUpdate
    ) -> Annotation:
        async with self._b.pool.connection() as conn, conn.transaction():
            media = await owned_media(conn, media_id, user)
            row = await self._row(conn, media_id, annotation_id)
            text = None
            if data.text is not None:
                text = _note_text(
                    data.text, "text" if row["kind"] == "note" else "caption", required=row["kind"] == "note"
                )
            await self._check_place(conn, media, data.time_s, data.after_segment)
            updated = await _one(
                conn,
                queries.notes_update,
                {
                    "annotation_id": annotation_id,
                    "media_id": media_id,
                    "body": text,
                    "time_s": data.time_s,
                    "after_segment": data.after_segment,
                    "clear_after_segment": data.time_s is not None and data.after_segment is None,
                },
            )
        assert updated is not None
        return await self.to_response(updated)

    async def delete(self, user: CurrentUser, media_id: uuid.UUID, annotation_id: uuid.UUID) -> None:
        async with self._b.pool.connection() as conn, conn.transaction():
            await owned_media(conn, media_id, user)
            row = await self._row(conn, media_id, annotation_id)
        # Objects first (as for media): if this fails the row remains and the owner can retry.
        for key in (row["upload_key"], row["image_key"]):
            if key:
                await self._b.storage.delete_object(key)
        async with self._b.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.notes_delete, {"annotation_id": annotation_id, "media_id": media_id})
        log.info("annotation_deleted", media_id=str(media_id), annotation_id=str(annotation_id))


def _service(backends: NamedDependency[Backends]) -> AnnotationService:
    return AnnotationService(backends)


AuthedRequest = Request[CurrentUser, Any, Any]
MaybeAuthedRequest = Request[CurrentUser | None, Any, Any]


class AnnotationController(Controller):
    path = "/api/media/{media_id:uuid}/annotations"
    tags = ("annotations",)
    dependencies = {"annotations": Provide(_service, sync_to_thread=False)}  # noqa: RUF012 (Litestar declares it so)

    @get("/", summary="Notes and images of a media, in transcript order", opt={AUTH_OPTIONAL: True})
    async def list_annotations(
        self, request: MaybeAuthedRequest, annotations: NamedDependency[AnnotationService], media_id: MediaId
    ) -> list[Annotation]:
        return await annotations.for_media(request.user, media_id)

    @post("/", summary="Add a note at a time of the transcript (owner)")
    async def add_note(
        self,
        request: AuthedRequest,
        annotations: NamedDependency[AnnotationService],
        media_id: MediaId,
        data: JSONBody[NoteCreate],
    ) -> Annotation:
        return await annotations.add_note(request.user, media_id, data)

    @post("/images", summary="Reserve an image upload at a time of the transcript (owner): a presigned PUT")
    async def reserve_image(
        self,
        request: AuthedRequest,
        annotations: NamedDependency[AnnotationService],
        media_id: MediaId,
        data: JSONBody[ImageCreate],
    ) -> ImageUpload:
        return await annotations.reserve_image(request.user, media_id, data)

    @post(
        "/{annotation_id:uuid}/confirm",
        status_code=200,
        summary="Check an uploaded image (HEAD, type, size, signature) and show it (owner)",
    )
    async def confirm_image(
        self,
        request: AuthedRequest,
        annotations: NamedDependency[AnnotationService],
        media_id: MediaId,
        annotation_id: AnnotationId,
    ) -> Annotation:
        return await annotations.confirm_image(request.user, media_id, annotation_id)

    @patch("/{annotation_id:uuid}", summary="Edit a note or caption, or move it (owner)")
    async def update(
        self,
        request: AuthedRequest,
        annotations: NamedDependency[AnnotationService],
        media_id: MediaId,
        annotation_id: AnnotationId,
        data: JSONBody[AnnotationUpdate],
    ) -> Annotation:
        return await annotations.update(request.user, media_id, annotation_id, data)

    @delete("/{annotation_id:uuid}", status_code=204, summary="Delete a note or image and its objects (owner)")
    async def delete_annotation(
        self,
        request: AuthedRequest,
        annotations: NamedDependency[AnnotationService],
        media_id: MediaId,
        annotation_id: AnnotationId,
    ) -> None:
        await annotations.delete(request.user, media_id, annotation_id)
