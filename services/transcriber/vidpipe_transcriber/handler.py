"""The transcribe stage on the queue: audio from storage → speaker-labelled transcript rows → summarize."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from psycopg import AsyncConnection

from vidpipe.messages import SummarizeRequest, TranscribeRequest
from vidpipe.settings import Settings
from vidpipe.stage import Handler, StageContext, StageOutcome, StageSpec
from vidpipe.transcript import save_transcript
from vidpipe.voices import label_known_voices, lock_media_owner_voices
from vidpipe_transcriber.engine import TranscriptionEngine, run
from vidpipe_transcriber.loader import load_engine
from vidpipe_transcriber.models import TranscribeOptions, Transcript
from vidpipe_transcriber.settings import TranscriberSettings

log = structlog.get_logger("vidpipe.transcriber")


def persist_transcript(transcript_id: uuid.UUID, message: TranscribeRequest, transcript: Transcript) -> Any:
    """Rows for the transcript; a re-run of the stage (a taken-over claim) replaces its earlier rows.

    Speakers whose voice matches one of the media owner's voice profiles are named in the same transaction,
    so a reader never sees the transcript without the names it will have.
    """

    async def persist(conn: AsyncConnection[Any]) -> None:
        # First, before saving locks anything: the labels below are given from the owner's voices.
        await lock_media_owner_voices(conn, message.media_id)
        await save_transcript(
            conn, transcript, transcript_id=transcript_id, task_id=message.task_id, media_id=message.media_id
        )
        matches = await label_known_voices(conn, transcript_id)
        if matches:
            log.info(
                "voices_recognised",
                task_id=str(message.task_id),
                speakers={m.label: round(m.confidence, 3) for m in matches},
            )

    return persist


def make_handler(engine: TranscriptionEngine) -> Handler[TranscribeRequest]:
    async def handle(message: TranscribeRequest, ctx: StageContext) -> StageOutcome:
        audio_path = ctx.workdir / "audio.flac"
        await ctx.storage.download_to(message.audio_key, audio_path)
        options = TranscribeOptions(
            language=message.options.language,
            min_speakers=message.options.min_speakers,
            max_speakers=message.options.max_speakers,
            hotwords=message.options.hotwords,
        )
        transcript = await ctx.run_blocking(run, engine, audio_path, options, ctx.progress_from_thread())
        transcript_id = uuid.uuid4()
        return StageOutcome(
            persist=persist_transcript(transcript_id, message, transcript),
            next_message=SummarizeRequest(
                task_id=message.task_id,
                media_id=message.media_id,
                trace_id=message.trace_id,
                options=message.options,
                transcript_id=transcript_id,
            ),
            detail={
                "language": transcript.language,
                "segments": len(transcript.segments),
                "speakers": len(transcript.speakers),
                "engine": transcript.engine,
                "model": transcript.model,
            },
        )

    return handle


@contextlib.asynccontextmanager
async def transcription_handler(settings: Settings) -> AsyncIterator[Handler[TranscribeRequest]]:
    engine = await asyncio.to_thread(load_engine, TranscriberSettings())
    yield make_handler(engine)


# WhisperX keeps per-call pipeline options on one shared model, and the local engine already uses every
# core: one job at a time. An hour of audio on CPU takes minutes, so SIGTERM waits up to 15.
stage = StageSpec(name="transcribe", handler_factory=transcription_handler, max_concurrency=1, shutdown_grace_s=900.0)
