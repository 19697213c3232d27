"""A user's media: list, read (with the visibility rules), edit with history, export, re-summarise, delete."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe.messages import SummarizeRequest
from vidpipe.subtitles import to_srt, to_vtt
from vidpipe.transcript import TranscriptSegment, TranscriptWord
from vidpipe_gateway.access import optional_user, owned_media, readable_media
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.queueing import queue_task
from vidpipe_gateway.results import latest_transcript, media_response, transcript_body
from vidpipe_gateway.schemas import (
    EditRecord,
    MediaListItem,
    MediaPage,
    MediaResponse,
    Segment,
    SegmentTextUpdate,
    Speaker,
    SpeakerNamesUpdate,
    SpeakersResponse,
    StartProcessingResponse,
    VisibilityUpdate,
)
from vidpipe_gateway.videos import safe_filename

log = structlog.get_logger("vidpipe.gateway")

MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]


def _encode_cursor(created_at: datetime, media_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{media_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, media_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(media_id)
    except ValueError as error:
        raise ApiError(400, "invalid_cursor", "the page cursor is not one this server issued") from error


async def _current_transcript(conn: AsyncConnection[Any], media_id: uuid.UUID) -> dict[str, Any]:
    transcript = await latest_transcript(conn, media_id)
    if transcript is None:
        raise ApiError(409, "no_transcript", "this media has no transcript yet")
    return transcript


async def _subtitle_segments(
    conn: AsyncConnection[Any], media_id: uuid.UUID
) -> tuple[list[TranscriptSegment], dict[str, str]]:
    body = await transcript_body(conn, await _current_transcript(conn, media_id))
    segments = [
        TranscriptSegment(
            start=s.start,
            end=s.end,
            speaker=s.speaker,
            text=s.text,
            # An edited segment's words no longer match its text: cue it from the text as the user wrote it.
            words=[]
            if s.edited
            else [
                TranscriptWord(start=w.start, end=w.end, word=" " + w.word, probability=w.probability or 0.0)
                for w in s.words
            ],
        )
        for s in body.segments
    ]
    return segments, {sp.label: sp.name for sp in body.speakers if sp.name}


class MediaController(Controller):
    path = "/api/media"
    tags = ("media",)

    @get("/", summary="My media, newest first (keyset pagination)")
    async def list_media(
        self,
        request: Request[CurrentUser, Any, Any],
        state: State,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: FromQuery[str | None] = None,
    ) -> MediaPage:
        before_created_at, before_id = _decode_cursor(cursor) if cursor else (None, None)
        async with state.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    queries.list_media_for_owner,
                    {
                        "owner_id": request.user.id,
                        "before_created_at": before_created_at,
                        "before_id": before_id,
                        "limit": limit + 1,
                    },
                )
            ).fetchall()
        items = [MediaListItem(**{k: r[k] for k in MediaListItem.__struct_fields__}) for r in rows[:limit]]
        next_cursor = (
            _encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        )
        return MediaPage(items=items, next_cursor=next_cursor)

    @get("/{media_id:uuid}", summary="One media with task, moderation, transcript and summary", exclude_from_auth=True)
    async def get_media(self, request: Request[Any, Any, Any], state: State, media_id: MediaId) -> MediaResponse:
        viewer = await optional_user(request, state)
        async with state.pool.connection() as conn:
            media = await readable_media(conn, media_id, viewer)
            video_url = await state.storage.presigned_get(media["object_key"], expires_s=3600)
            return await media_response(conn, media, video_url)

    @patch("/{media_id:uuid}", summary="Change who may read this media")
    async def set_visibility(
        self, request: Request[CurrentUser, Any, Any], state: State, media_id: MediaId, data: JSONBody[VisibilityUpdate]
    ) -> MediaResponse:
        async with state.pool.connection() as conn:
            async with conn.transaction():
                media = await owned_media(conn, media_id, request.user)
                row = await (
                    await conn.execute(queries.set_visibility, {"media_id": media_id, "visibility": data.visibility})
                ).fetchone()
                await conn.execute(
                    queries.insert_edit,
                    {
                        "media_id": media_id,
                        "transcript_id": None,
                        "editor_id": request.user.id,
                        "target": "visibility",
                        "target_key": str(media_id),
                        "old_value": row["old_visibility"],
                        "new_value": data.visibility,
                    },
                )
            media = await readable_media(conn, media_id, request.user)
            video_url = await state.storage.presigned_get(media["object_key"], expires_s=3600)
            return await media_response(conn, media, video_url)

    @patch("/{media_id:uuid}/speakers", summary="Name speakers (null resets a name to its label)")
    async def rename_speakers(
        self,
        request: Request[CurrentUser, Any, Any],
        state: State,
        media_id: MediaId,
        data: JSONBody[SpeakerNamesUpdate],
    ) -> SpeakersResponse:
        async with state.pool.connection() as conn:
            async with conn.transaction():
                await owned_media(conn, media_id, request.user)
                transcript = await _current_transcript(conn, media_id)
                for label, raw_name in data.names.items():
                    name = (raw_name or "").strip() or None
                    row = await (
                        await conn.execute(
                            queries.rename_speaker, {"transcript_id": transcript["id"], "label": label, "name": name}
                        )
                    ).fetchone()
                    if row is None:
                        raise ApiError(400, "unknown_speaker", f"the transcript has no speaker {label!r}")
                    await conn.execute(
                        queries.insert_edit,
                        {
                            "media_id": media_id,
                            "transcript_id": transcript["id"],
                            "editor_id": request.user.id,
                            "target": "speaker_name",
                            "target_key": label,
                            "old_value": row["old_name"],
                            "new_value": name,
                        },
                    )
            speakers = await (
                await conn.execute(queries.speakers_for_transcript, {"transcript_id": transcript["id"]})
            ).fetchall()
        return SpeakersResponse(speakers=[Speaker(label=s["label"], name=s["display_name"]) for s in speakers])

    @patch("/{media_id:uuid}/segments/{idx:int}", summary="Correct a segment's text (the machine text is kept)")
    async def edit_segment(
        self,
        request: Request[CurrentUser, Any, Any],
        state: State,
        media_id: MediaId,
        idx: FromPath[int],
        data: JSONBody[SegmentTextUpdate],
    ) -> Segment:
        text = data.text.strip()
        if not text:
            raise ApiError(400, "invalid_request", "a segment's text cannot be empty")
        async with state.pool.connection() as conn:
            async with conn.transaction():
                await owned_media(conn, media_id, request.user)
                transcript = await _current_transcript(conn, media_id)
                row = await (
                    await conn.execute(
                        queries.edit_segment_text, {"transcript_id": transcript["id"], "idx": idx, "text": text}
                    )
                ).fetchone()
                if row is None:
                    raise not_found("segment")
                await conn.execute(
                    queries.insert_edit,
                    {
                        "media_id": media_id,
                        "transcript_id": transcript["id"],
                        "editor_id": request.user.id,
                        "target": "segment_text",
                        "target_key": str(idx),
                        "old_value": row["old_text"],
                        "new_value": text,
                    },
                )
            body = await transcript_body(conn, transcript)
        return next(s for s in body.segments if s.idx == idx)

    @get("/{media_id:uuid}/edits", summary="Edit history: who changed what, when")
    async def edits(self, request: Request[CurrentUser, Any, Any], state: State, media_id: MediaId) -> list[EditRecord]:
        async with state.pool.connection() as conn:
            await readable_media(conn, media_id, request.user)
            rows = await (await conn.execute(queries.edits_for_media, {"media_id": media_id})).fetchall()
        return [EditRecord(**r) for r in rows]

    @get(
        "/{media_id:uuid}/transcript.srt",
        summary="Subtitles (SRT)",
        exclude_from_auth=True,
        media_type="application/x-subrip",
    )
    async def srt(self, request: Request[Any, Any, Any], state: State, media_id: MediaId) -> Response[str]:
        return await self._subtitles(request, state, media_id, "srt")

    @get("/{media_id:uuid}/transcript.vtt", summary="Subtitles (WebVTT)", exclude_from_auth=True, media_type="text/vtt")
    async def vtt(self, request: Request[Any, Any, Any], state: State, media_id: MediaId) -> Response[str]:
        return await self._subtitles(request, state, media_id, "vtt")

    async def _subtitles(
        self, request: Request[Any, Any, Any], state: State, media_id: uuid.UUID, kind: str
    ) -> Response[str]:
        viewer = await optional_user(request, state)
        async with state.pool.connection() as conn:
            media = await readable_media(conn, media_id, viewer)
            segments, names = await _subtitle_segments(conn, media_id)
        text = to_srt(segments, names) if kind == "srt" else to_vtt(segments, names)
        # The stored name is the user's own; only a sanitised form may reach a header.
        stem = safe_filename(media["filename"]).rsplit(".", 1)[0] or "transcript"
        return Response(
            text,
            media_type="application/x-subrip" if kind == "srt" else "text/vtt",
            headers={"Content-Disposition": f'attachment; filename="{stem}.{kind}"'},
        )

    @post("/{media_id:uuid}/summarize", status_code=202, summary="Summarise again from the current transcript")
    async def resummarize(
        self, request: Request[CurrentUser, Any, Any], state: State, media_id: MediaId
    ) -> StartProcessingResponse:
        trace_id = request.headers.get("x-trace-id") or uuid.uuid4().hex
        async with state.pool.connection() as conn, conn.transaction():
            await owned_media(conn, media_id, request.user)
            if await (await conn.execute(queries.live_task_for_media, {"media_id": media_id})).fetchone():
                raise ApiError(409, "already_processing", "this video is already being processed")
            transcript = await _current_transcript(conn, media_id)
            task = await (
                await conn.execute(
                    queries.insert_task,
                    {"media_id": media_id, "first_stage": "summarize", "options": Jsonb({}), "trace_id": trace_id},
                )
            ).fetchone()
        message = SummarizeRequest(
            task_id=task["id"], media_id=media_id, trace_id=trace_id, transcript_id=transcript["id"]
        )
        await queue_task(state, message, {"rerun": True})
        return StartProcessingResponse(task_id=task["id"], media_id=media_id, status="UPLOAD_COMPLETE")

    @delete("/{media_id:uuid}", status_code=204, summary="Delete a media: its objects and every row about it")
    async def delete_media(self, request: Request[CurrentUser, Any, Any], state: State, media_id: MediaId) -> None:
        async with state.pool.connection() as conn:
            media = await owned_media(conn, media_id, request.user)
        # Objects first: if this fails the rows remain and the user can retry; rows without objects would not.
        upload_prefix = media["object_key"].rsplit("/", 1)[0] + "/"
        await state.storage.delete_prefix(upload_prefix)
        await state.storage.delete_prefix(f"media/{media_id}/")
        async with state.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.delete_media, {"media_id": media_id})
        log.info("media_deleted", media_id=str(media_id))


__all__ = ["MediaController"]
