"""The moderate stage on the queue: validate and scan the upload, store the verdict, hand audio on.

The video is read straight from storage through a presigned URL (FFmpeg streams it with range requests), so a
worker never needs disk for the whole upload; only the small 16 kHz FLAC is written locally, then uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe.errors import PermanentError
from vidpipe.messages import ModerateRequest, TranscribeRequest
from vidpipe.settings import Settings
from vidpipe.stage import Handler, StageContext, StageOutcome, StageSpec
from vidpipe_moderator.engine import Moderator, load_moderator
from vidpipe_moderator.results import ModerationReport
from vidpipe_moderator.settings import ModeratorSettings


def audio_key(message: ModerateRequest) -> str:
    return f"media/{message.media_id}/audio/{message.task_id}.flac"


def thumbnail_key(message: ModerateRequest) -> str:
    return f"media/{message.media_id}/thumbnails/{message.task_id}.jpg"


def _persist(
    message: ModerateRequest, report: ModerationReport, stored_audio_key: str | None, stored_thumbnail: str | None
) -> Any:
    async def persist(conn: AsyncConnection[Any]) -> None:
        await conn.execute(
            queries.upsert_moderation_result,
            {
                "task_id": message.task_id,
                "media_id": message.media_id,
                "verdict": report.verdict,
                "reason": report.reason,
                "frames_scanned": report.frames_scanned,
                "findings": Jsonb(msgspec.to_builtins(report.findings)),
                "model": report.detector,
            },
        )
        await conn.execute(
            queries.record_media_probe,
            {
                "media_id": message.media_id,
                "duration_s": report.media.duration_s,
                "probe": Jsonb(msgspec.to_builtins(report.media)),
                "audio_key": stored_audio_key,
            },
        )
        if stored_thumbnail is not None:
            await conn.execute(
                queries.record_media_thumbnail, {"media_id": message.media_id, "thumbnail_key": stored_thumbnail}
            )
        if report.verdict == "flagged":
            await conn.execute(queries.mark_task_flagged, {"task_id": message.task_id})

    return persist


def make_handler(moderator: Moderator) -> Handler[ModerateRequest]:
    async def handle(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        head = await ctx.storage.head(message.video_key)
        if head is None:
            raise PermanentError("object_missing", "the uploaded video is no longer in storage")
        if head.size == 0:
            raise PermanentError("empty_file", "the uploaded file is empty (0 bytes)")
        source = await ctx.storage.presigned_get(message.video_key, expires_s=6 * 3600)
        audio_path = ctx.workdir / "audio.flac"
        report = await ctx.run_blocking(
            moderator.moderate,
            source,
            audio_out=audio_path,
            progress=ctx.progress_from_thread(),
            thumbnail_out=ctx.workdir / "thumbnail.jpg",
        )
        detail: dict[str, object] = {"verdict": report.verdict, "frames_scanned": report.frames_scanned}
        if report.media.video is None:
            detail["audio_only"] = True
        if report.verdict == "rejected":
            return StageOutcome.reject(
                "rejected_by_moderation", report.reason, persist=_persist(message, report, None, None), detail=detail
            )
        if report.audio is None:  # the engine always extracts audio for a video it accepts
            raise PermanentError("no_audio_stream", "the video has no audio to transcribe")
        key = audio_key(message)
        await ctx.storage.upload_file(audio_path, key, "audio/flac")
        thumbnail = None
        if report.thumbnail is not None:
            thumbnail = thumbnail_key(message)
            await ctx.storage.upload_file(Path(report.thumbnail), thumbnail, "image/jpeg")
        return StageOutcome(
            persist=_persist(message, report, key, thumbnail),
            next_message=TranscribeRequest(
                task_id=message.task_id,
                media_id=message.media_id,
                trace_id=message.trace_id,
                options=message.options,
                audio_key=key,
            ),
            detail=detail,
            stored_objects=(key,) if thumbnail is None else (key, thumbnail),
        )

    return handle


@contextlib.asynccontextmanager
async def moderation_handler(settings: Settings) -> AsyncIterator[Handler[ModerateRequest]]:
    moderator = await asyncio.to_thread(load_moderator, ModeratorSettings())
    yield make_handler(moderator)


# PyAV decoding and ONNX Runtime sessions are safe to run side by side; two jobs keep a GPU busy while one
# downloads. A 3-hour video takes minutes, so SIGTERM waits up to two.
stage = StageSpec(name="moderate", handler_factory=moderation_handler, max_concurrency=2, shutdown_grace_s=120.0)
