"""Assemble a media's full result (task status, moderation, transcript, summary) from named queries."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from vidpipe.db.queries import queries
from vidpipe_gateway.failures import explain
from vidpipe_gateway.schemas import (
    Chapter,
    MediaListItem,
    MediaResponse,
    ModerationBody,
    Segment,
    Speaker,
    SummaryBody,
    TranscriptBody,
    Word,
)
from vidpipe_gateway.status import ENDED, task_status

if TYPE_CHECKING:
    from vidpipe_gateway.services import Backends


async def _one(conn: AsyncConnection[Any], query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
    return row


async def speakers_body(conn: AsyncConnection[Any], transcript_id: uuid.UUID) -> list[Speaker]:
    """The speakers with their names, and for a name a voice profile gave, its source and confidence."""
    rows = await (
        await conn.execute(queries.voice_speakers_for_transcript, {"transcript_id": transcript_id})
    ).fetchall()
    return [
        Speaker(
            label=s["label"],
            name=s["display_name"],
            name_source="voice" if s["name_source"] == "voice" else None,
            voice_confidence=round(float(s["voice_confidence"]), 4) if s["name_source"] == "voice" else None,
        )
        for s in rows
    ]


async def transcript_body(conn: AsyncConnection[Any], transcript: dict[str, Any]) -> TranscriptBody:
    params = {"transcript_id": transcript["id"]}
    segments = await (await conn.execute(queries.segments_for_transcript, params)).fetchall()
    words = await (await conn.execute(queries.words_for_transcript, params)).fetchall()
    words_by_segment: dict[int, list[Word]] = {}
    for w in words:
        words_by_segment.setdefault(w["segment_idx"], []).append(
            Word(
                start=w["start_s"],
                end=w["end_s"],
                word=w["word"],
                speaker=w["speaker"],
                probability=w["probability"],
            )
        )
    return TranscriptBody(
        id=transcript["id"],
        language=transcript["language"],
        duration_s=transcript["duration_s"],
        engine=transcript["engine"],
        model=transcript["model"],
        speakers=await speakers_body(conn, transcript["id"]),
        segments=[
            Segment(
                idx=s["idx"],
                start=s["start_s"],
                end=s["end_s"],
                speaker=s["speaker"],
                text=s["text"],
                edited=s["text"] != s["original_text"],
                words=words_by_segment.get(s["idx"], []),
            )
            for s in segments
        ],
    )


async def latest_transcript(conn: AsyncConnection[Any], media_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, queries.latest_transcript_for_media, {"media_id": media_id})


async def media_response(conn: AsyncConnection[Any], media: dict[str, Any], video_url: str | None) -> MediaResponse:
    """The whole result of a media the caller may read (the access check happened before)."""
    media_id = media["id"]
    params = {"media_id": media_id}
    task = await _one(conn, queries.latest_task_for_media, params)
    status = None
    if task is not None:
        full = await _one(conn, queries.get_task, {"task_id": task["id"]})
        assert full is not None
        status = await task_status(conn, full)
    moderation = await _one(conn, queries.moderation_for_media, params)
    transcript = await latest_transcript(conn, media_id)
    summary = (
        await _one(conn, queries.latest_summary_for_transcript, {"transcript_id": transcript["id"]})
        if transcript
        else None
    )
    return MediaResponse(
        id=media_id,
        filename=media["filename"],
        content_type=media["content_type"],
        size_bytes=media["size_bytes"],
        duration_s=media["duration_s"],
        visibility=media["visibility"],
        created_at=media["created_at"],
        is_owner=bool(media["is_owner"]),
        video_url=video_url,
        task=status,
        moderation=ModerationBody(
            verdict=moderation["verdict"],
            reason=moderation["reason"],
            frames_scanned=moderation["frames_scanned"],
            findings=moderation["findings"],
            model=moderation["model"],
        )
        if moderation
        else None,
        transcript=await transcript_body(conn, transcript) if transcript else None,
        summary=SummaryBody(
            title=summary["title"],
            summary=summary["summary"],
            keywords=list(summary["keywords"]),
            chapters=[Chapter(start_s=c["start_s"], title=c["title"]) for c in summary["chapters"]],
            model=summary["model"],
        )
        if summary
        else None,
    )


async def media_list_item(backends: Backends, row: dict[str, Any]) -> MediaListItem:
    """One row of "My videos" (the caller owns it): the thumbnail as a presigned GET, a failure in sentences."""
    thumbnail = row["thumbnail_key"]
    expiry = backends.settings.gateway.video_url_expiry_s
    failed = row["status"] in ENDED
    return MediaListItem(
        id=row["id"],
        filename=row["filename"],
        created_at=row["created_at"],
        duration_s=row["duration_s"],
        visibility=row["visibility"],
        status=row["status"],
        task_id=row["task_id"],
        title=row["title"],
        thumbnail_url=await backends.storage.presigned_get(thumbnail, expires_s=expiry) if thumbnail else None,
        error_code=row["error_code"] if failed else None,
        reason=explain(row["error_code"], row["error_message"]) if failed else None,
    )
