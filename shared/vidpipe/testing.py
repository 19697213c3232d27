"""Helpers for tests and benchmarks that run against the real local services (not fakes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries


async def create_task_row(
    pool: AsyncConnectionPool[Any],
    *,
    subject: str = "tester",
    object_key: str | None = None,
    status: str = "UPLOAD_COMPLETE",
    pinned: bool = True,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A user, a media and a task as the gateway would leave them after start-processing: (task, media).
    The upload is pinned to `media/<media>/source/<task>/video.mp4` unless `pinned` is False (start-processing
    died before the copy)."""
    async with pool.connection() as conn, conn.transaction():
        user = await (
            await conn.execute(queries.upsert_user, {"subject": subject, "email": None, "display_name": None})
        ).fetchone()
        assert user is not None
        media = await (
            await conn.execute(
                queries.insert_media,
                {
                    "id": uuid.uuid4(),
                    "owner_id": user["id"],
                    "object_key": object_key or f"uploads/{user['id']}/{uuid.uuid4()}/video.mp4",
                    "filename": "video.mp4",
                    "content_type": "video/mp4",
                    "size_bytes": 1,
                    "upload_id": None,
                },
            )
        ).fetchone()
        assert media is not None
        task = await (
            await conn.execute(
                queries.insert_task,
                {
                    "media_id": media["id"],
                    "first_stage": "moderate",
                    "options": Jsonb({}),
                    "trace_id": "test",
                },
            )
        ).fetchone()
        assert task is not None
        await conn.execute(
            "UPDATE tasks SET status = %(status)s, current_stage = 'moderate' WHERE id = %(id)s",
            {"status": status, "id": task["id"]},
        )
        if pinned:
            await conn.execute(
                "UPDATE media SET source_key = %(key)s WHERE id = %(id)s",
                {"key": pinned_source_key(media["id"], task["id"]), "id": media["id"]},
            )
        return task["id"], media["id"]


def pinned_source_key(media_id: uuid.UUID, task_id: uuid.UUID) -> str:
    """Where `create_task_row` says the upload was pinned (the gateway's layout, with a fixed filename)."""
    return f"media/{media_id}/source/{task_id}/video.mp4"


async def task_row(pool: AsyncConnectionPool[Any], task_id: uuid.UUID) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (await conn.execute(queries.get_task, {"task_id": task_id})).fetchone()
        assert row is not None
        return dict(row)


async def task_events(pool: AsyncConnectionPool[Any], task_id: uuid.UUID) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(queries.events_for_task, {"task_id": task_id, "after_id": 0})).fetchall()
        return [dict(r) for r in rows]


@contextlib.asynccontextmanager
async def sleepy_handler(settings: Any) -> AsyncIterator[Any]:
    """A trivial moderate-stage handler for process-level tests: sleeps VIDPIPE_TEST_SLEEP_S, then hands off.

    Run it as a real worker process with `vidpipe worker moderate --handler vidpipe.testing:sleepy_handler`.
    """
    from vidpipe.messages import ModerateRequest, TranscribeRequest
    from vidpipe.stage import StageContext, StageOutcome

    delay = float(os.environ.get("VIDPIPE_TEST_SLEEP_S", "0"))

    async def handle(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await asyncio.sleep(delay)
        return StageOutcome(
            next_message=TranscribeRequest(
                task_id=message.task_id, media_id=message.media_id, trace_id=message.trace_id, audio_key="audio"
            ),
            detail={"slept_s": delay, "pid": os.getpid()},
        )

    yield handle


# Small test recordings shipped in the repository (provenance and licences in NOTICE), so the tests need
# nothing beside the checkout: jfk.flac (11 s, one speaker) and ami-mixture.flac (60 s, four speakers) with
# the AMI excerpt's RTTM and per-speaker reference texts. FLAC, not WAV: the samples are bit-identical to the
# original 16 kHz WAVs at 58 % of the size.
SHIPPED_AUDIO_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "audio"


def shipped_audio(name: str) -> Path:
    """A test recording (or its reference text) from the repository's tests/data/audio, by file name."""
    path = SHIPPED_AUDIO_DIR / name
    if not path.is_file():
        available = sorted(p.name for p in SHIPPED_AUDIO_DIR.glob("*")) if SHIPPED_AUDIO_DIR.is_dir() else []
        raise FileNotFoundError(f"{path} is not in the checkout (shipped: {', '.join(available) or 'none'})")
    return path


def reference_audio_dir() -> Path:
    """Larger reference recordings for the benchmarks only (10-minute files, the pyannote sample): the
    `audio` folder of `VIDPIPE_REFERENCE_DATA`, else ../shared/data/audio beside the checkout.

    Optional: tests never read it (they use `shipped_audio`), so a bare clone passes `make test`.
    """
    if override := os.environ.get("VIDPIPE_REFERENCE_DATA"):
        return Path(override) / "audio"
    checkout = Path(__file__).resolve().parents[2]
    return checkout.parent / "shared" / "data" / "audio"
