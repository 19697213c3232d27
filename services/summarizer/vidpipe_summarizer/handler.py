"""The summarize stage on the queue: transcript rows (with the user's speaker names) → summary → COMPLETED.

A re-run after the user edits the transcript or renames speakers is just another SummarizeRequest for the
same transcript: it reads the current text and names, and adds a newer summary beside the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe.errors import PermanentError
from vidpipe.messages import SummarizeRequest
from vidpipe.settings import Settings
from vidpipe.stage import Handler, StageContext, StageOutcome, StageSpec, TaskStatus
from vidpipe.transcript import Transcript, read_transcript
from vidpipe_summarizer.engine import SummarizerEngine, load_engine
from vidpipe_summarizer.schema import Summary
from vidpipe_summarizer.settings import SummarizerSettings

NO_SPEECH = "No speech was detected in this recording, so there is nothing to summarise."


async def load_transcript(ctx: StageContext, message: SummarizeRequest) -> Transcript:
    async with ctx.db.connection() as conn:
        transcript = await read_transcript(conn, message.transcript_id)
    if transcript is None:
        raise PermanentError("transcript_missing", "the transcript to summarise no longer exists")
    spoken = [s for s in transcript.segments if s.text.strip()]
    return msgspec.structs.replace(transcript, segments=spoken)


def _persist(
    message: SummarizeRequest,
    *,
    title: str | None,
    summary: str,
    keywords: list[str],
    chapters: list[dict[str, Any]],
    model: str,
) -> Any:
    async def persist(conn: AsyncConnection[Any]) -> None:
        await conn.execute(
            queries.insert_summary,
            {
                "transcript_id": message.transcript_id,
                "task_id": message.task_id,
                "title": title,
                "summary": summary,
                "keywords": keywords,
                "chapters": Jsonb(chapters),
                "model": model,
            },
        )

    return persist


def make_handler(engine: SummarizerEngine) -> Handler[SummarizeRequest]:
    async def handle(message: SummarizeRequest, ctx: StageContext) -> StageOutcome:
        transcript = await load_transcript(ctx, message)
        if not transcript.segments:
            return StageOutcome(
                persist=_persist(message, title=None, summary=NO_SPEECH, keywords=[], chapters=[], model="none"),
                final_status=TaskStatus.COMPLETED,
                detail={"empty_transcript": True},
            )
        summary: Summary = await ctx.run_blocking(engine.summarize, transcript, progress=ctx.progress_from_thread())
        chapters = [{"start_s": c.start, "title": c.title} for c in summary.chapters]
        return StageOutcome(
            persist=_persist(
                message,
                title=summary.title,
                summary=summary.summary,
                keywords=list(summary.keywords),
                chapters=chapters,
                model=summary.model,
            ),
            final_status=TaskStatus.COMPLETED,
            detail={"model": summary.model, "chunks": summary.chunk_count, "keywords_source": summary.keywords_source},
        )

    return handle


@contextlib.asynccontextmanager
async def summarization_handler(settings: Settings) -> AsyncIterator[Handler[SummarizeRequest]]:
    engine = await asyncio.to_thread(load_engine, SummarizerSettings())
    try:
        # Both thread counts' servers up and the system prompt cached before the first job arrives.
        await asyncio.to_thread(engine.warm)
        yield make_handler(engine)
    finally:
        await asyncio.to_thread(engine.close)


# One local LLM server (or one vLLM client whose server batches for us): one summary at a time per worker.
# A long transcript's map-reduce on CPU can take many minutes, so SIGTERM waits up to 15.
stage = StageSpec(name="summarize", handler_factory=summarization_handler, max_concurrency=1, shutdown_grace_s=900.0)
