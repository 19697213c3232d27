"""The editor's use cases beyond text corrections: move a segment to another speaker, undo an edit, the thumbnail.

Every change is an edit row (who, when, old and new value); an undo restores the old value of the edit it
names and is recorded as an edit itself (`undo_of`), so the history only ever grows and an undo can be undone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.response import Redirect
from psycopg import AsyncConnection

from vidpipe.db.queries import queries
from vidpipe.voices import learn_voice, lock_owner_voices
from vidpipe_gateway.auth import AUTH_OPTIONAL, CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.inputs import require_safe
from vidpipe_gateway.results import transcript_body
from vidpipe_gateway.schemas import EditRecord, Segment
from vidpipe_gateway.services import Backends, MediaService, may_see_picture

MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]
AuthedRequest = Request[CurrentUser, Any, Any]
MaybeAuthedRequest = Request[CurrentUser | None, Any, Any]
# Long enough to load one list page of images, short enough that a revoked reader soon loses access.
THUMBNAIL_URL_EXPIRY_S = 600


class SegmentSpeakerUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    speaker: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    """The label of one of the transcript's speakers (SPEAKER_00…), not a display name."""


class UndoResponse(msgspec.Struct, frozen=True):
    undone: int
    """The edit that was reverted."""
    edit: EditRecord
    """The new edit that records the undo."""


async def _one(conn: AsyncConnection[Any], query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
    return row


class EditorService(MediaService):
    """Reassign, undo and thumbnails, with MediaService's access rules (owner edits, readers read)."""

    def __init__(self, backends: Backends) -> None:
        super().__init__(backends)
        self._backends = backends

    async def reassign_segment(self, user: CurrentUser, media_id: uuid.UUID, idx: int, speaker: str) -> Segment:
        label = require_safe(speaker, "speaker").strip()
        async with self._backends.pool.connection() as conn:
            async with conn.transaction():
                await self._owned(conn, media_id, user)
                transcript = await self._transcript(conn, media_id)
                params = {"transcript_id": transcript["id"], "idx": idx}
                current = await _one(conn, queries.editor_segment_exists, params)
                if current is None:
                    raise not_found("segment")
                if current["speaker"] != label:
                    row = await _one(conn, queries.editor_set_segment_speaker, {**params, "speaker": label})
                    if row is None:
                        raise ApiError(400, "unknown_speaker", f"the transcript has no speaker {label!r}")
                    await self._insert_edit(
                        conn, media_id, transcript["id"], user, "segment_speaker", str(idx), row["old_speaker"], label
                    )
            body = await transcript_body(conn, transcript)
        return next(s for s in body.segments if s.idx == idx)

    async def undo(self, user: CurrentUser, media_id: uuid.UUID, edit_id: int) -> UndoResponse:
        async with self._backends.pool.connection() as conn, conn.transaction():
            await self._owned(conn, media_id, user)
            # Before any row lock: undoing a rename moves a voice between the owner's profiles.
            await lock_owner_voices(conn, user.id)
            edit = await _one(conn, queries.editor_edit_for_media, {"edit_id": edit_id, "media_id": media_id})
            if edit is None:
                raise not_found("edit")
            if edit["undone"]:
                raise ApiError(409, "already_undone", "this edit was undone already; undo the undo instead")
            restore: str | None = edit["old_value"]
            target: str = edit["target"]
            key: str = edit["target_key"]
            transcript_id = edit["transcript_id"]
            if transcript_id is not None:
                latest = await self._transcript(conn, media_id)
                if latest["id"] != transcript_id:
                    raise ApiError(
                        409, "stale_edit", "this edit belongs to an earlier transcript (the video was processed again)"
                    )
            current = await self._apply(conn, media_id, transcript_id, target, key, restore)
            new_id = await self._insert_edit(
                conn, media_id, transcript_id, user, target, key, current, restore, undo_of=edit_id
            )
            record = next(
                r
                for r in await (await conn.execute(queries.edits_for_media, {"media_id": media_id})).fetchall()
                if r["id"] == new_id
            )
        return UndoResponse(undone=edit_id, edit=EditRecord(**record))

    async def _apply(
        self,
        conn: AsyncConnection[Any],
        media_id: uuid.UUID,
        transcript_id: uuid.UUID | None,
        target: str,
        key: str,
        value: str | None,
    ) -> str | None:
        """Set one edited value back; returns the value it replaced."""
        if target == "visibility":
            row = await _one(conn, queries.set_visibility, {"media_id": media_id, "visibility": value})
            return row["old_visibility"] if row else None
        if target == "speaker_name":
            row = await _one(
                conn, queries.rename_speaker, {"transcript_id": transcript_id, "label": key, "name": value}
            )
            if row is None:
                raise not_found("speaker")
            if transcript_id is not None:  # the owner's voice profiles follow the restored name
                await learn_voice(conn, transcript_id, key, value)
            old_name: str | None = row["old_name"]
            return old_name
        params = {"transcript_id": transcript_id, "idx": int(key)}
        if target == "segment_text":
            if value is None:
                raise ApiError(409, "cannot_undo", "this edit has no earlier text to restore")
            row = await _one(conn, queries.edit_segment_text, {**params, "text": value})
            if row is None:
                raise not_found("segment")
            old_text: str = row["old_text"]
            return old_text
        if target == "segment_speaker":
            current = await _one(conn, queries.editor_segment_exists, params)
            if current is None:
                raise not_found("segment")
            row = await _one(conn, queries.editor_set_segment_speaker, {**params, "speaker": value})
            if row is None:
                raise ApiError(409, "cannot_undo", f"the transcript no longer has speaker {value!r}")
            old_speaker: str | None = row["old_speaker"]
            return old_speaker
        raise ApiError(409, "cannot_undo", f"edits of {target!r} cannot be undone")

    async def _insert_edit(
        self,
        conn: AsyncConnection[Any],
        media_id: uuid.UUID,
        transcript_id: uuid.UUID | None,
        user: CurrentUser,
        target: str,
        key: str,
        old_value: str | None,
        new_value: str | None,
        *,
        undo_of: int | None = None,
    ) -> int:
        row = await _one(
            conn,
            queries.editor_insert_edit,
            {
                "media_id": media_id,
                "transcript_id": transcript_id,
                "editor_id": user.id,
                "target": target,
                "target_key": key,
                "old_value": old_value,
                "new_value": new_value,
                "undo_of": undo_of,
            },
        )
        assert row is not None
        edit_id: int = row["id"]
        return edit_id

    async def thumbnail_url(self, viewer: CurrentUser | None, media_id: uuid.UUID) -> str:
        """A short-lived presigned GET of the thumbnail, for anyone who may read the media (404 otherwise)."""
        async with self._backends.pool.connection() as conn:
            media = await self._readable(conn, media_id, viewer)
        # A thumbnail is made only for an allowed video, but a later run may flag or reject it.
        if media["thumbnail_key"] is None or not may_see_picture(media):
            raise not_found("thumbnail")
        return await self._backends.storage.presigned_get(media["thumbnail_key"], expires_s=THUMBNAIL_URL_EXPIRY_S)


class EditorController(Controller):
    path = "/api/media"
    tags = ("media",)

    @patch(
        "/{media_id:uuid}/segments/{idx:int}/speaker",
        summary="Move a segment to another of the transcript's speakers (recorded in the edit history)",
    )
    async def reassign_segment(
        self,
        request: AuthedRequest,
        backends: NamedDependency[Backends],
        media_id: MediaId,
        idx: FromPath[int],
        data: JSONBody[SegmentSpeakerUpdate],
    ) -> Segment:
        return await EditorService(backends).reassign_segment(request.user, media_id, idx, data.speaker)

    @post(
        "/{media_id:uuid}/edits/{edit_id:int}/undo",
        status_code=200,
        summary="Undo one edit: restore its old value (the undo is itself recorded; owner only)",
    )
    async def undo(
        self, request: AuthedRequest, backends: NamedDependency[Backends], media_id: MediaId, edit_id: FromPath[int]
    ) -> UndoResponse:
        return await EditorService(backends).undo(request.user, media_id, edit_id)

    @get(
        "/{media_id:uuid}/thumbnail",
        summary="Redirect to the thumbnail (a frame of the video) for readers of the media",
        opt={AUTH_OPTIONAL: True},
        status_code=307,
    )
    async def thumbnail(
        self, request: MaybeAuthedRequest, backends: NamedDependency[Backends], media_id: MediaId
    ) -> Response[Any]:
        url = await EditorService(backends).thumbnail_url(request.user, media_id)
        return Redirect(url, status_code=307, headers={"Cache-Control": "private, max-age=300"})
