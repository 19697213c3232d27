"""Media for the browser tests of the editor, "My videos" and the tracker, made without running the workers.

The video is real (a photo slideshow over the JFK clip, uploaded through the gateway's presigned PUT and
pinned by start-processing), so the page plays it; the transcript, summary and thumbnail are written with the
stages' own persist code and encoder, so the pages read exactly what the workers would have stored.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import skimage.data
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings
from vidpipe.storage import open_storage
from vidpipe.testing import shipped_audio

from ..gateway.conftest import auth

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def require_chromium() -> Path:
    """Debian's Chromium and the playwright package; a missing one skips locally and fails in CI."""
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "the `playwright` Python package is not installed"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: apt-get install -y $(cat requirements/web-system-packages.txt)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so this is an error, not a skip)")
        pytest.skip(problem)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@contextlib.asynccontextmanager
async def launched(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


def token(subject: str) -> str:
    return auth(subject)["Authorization"].split()[1]


async def new_page(browser: Any, errors: list[str], **context: Any) -> Any:
    """A page in a fresh context that records what the page logs as errors (CSP refusals included)."""
    ctx = await browser.new_context(**({"viewport": {"width": 1280, "height": 800}} | context))
    page = await ctx.new_page()
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page


async def signed_in_page(browser: Any, base_url: str, subject: str, errors: list[str], **context: Any) -> Any:
    page = await new_page(browser, errors, **context)
    await page.goto(f"{base_url}/#token={token(subject)}")
    await page.get_by_test_id("signed-in-as").wait_for()
    return page


# (speaker, start, end, text): the JFK clip in four passages, two of them from the second "speaker" in a row
# so the merged view has something to merge.
PASSAGES = [
    ("SPEAKER_00", 0.3, 2.9, "And so, my fellow Americans,"),
    ("SPEAKER_00", 3.2, 6.0, "ask not what your country can do for you,"),
    ("SPEAKER_01", 6.4, 8.3, "ask what you can do"),
    ("SPEAKER_01", 8.4, 10.6, "for your country."),
]


def interview_video(path: Path) -> bytes:
    from vidpipe_moderator.testmedia import write_slideshow

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket()]
    return write_slideshow(
        path, photos, seconds_per_image=11 / 3, fps=5, size=(320, 180), audio=shipped_audio("jfk.flac"), faststart=True
    ).read_bytes()


async def upload(
    http: httpx.AsyncClient, user: str, data: bytes, filename: str = "jfk-interview.mp4"
) -> dict[str, Any]:
    """Reserve, PUT and start processing, as the upload page does; returns the start answer (task and media)."""
    reserved = await http.post(
        "/api/video/upload-url",
        json={"filename": filename, "content_type": "video/mp4", "size": len(data)},
        headers=auth(user),
    )
    reserved.raise_for_status()
    target = reserved.json()
    async with httpx.AsyncClient() as storage:
        (await storage.put(target["url"], content=data, headers={"Content-Type": "video/mp4"})).raise_for_status()
    started = await http.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth(user)
    )
    started.raise_for_status()
    result: dict[str, Any] = started.json()
    return result


async def complete(pool: AsyncConnectionPool[Any], started: dict[str, Any], *, title: str | None) -> None:
    """Store the transcript, a summary and a moderation verdict, and end the task COMPLETED."""
    from vidpipe.messages import TranscribeRequest
    from vidpipe.transcript import SpeakerSummary, Transcript, TranscriptSegment, TranscriptWord
    from vidpipe_transcriber.handler import persist_transcript

    segments = []
    for speaker, start, end, text in PASSAGES:
        tokens = text.split()
        step = (end - start) / len(tokens)
        words = [
            TranscriptWord(
                start=round(start + i * step, 2),
                end=round(start + (i + 1) * step - 0.05, 2),
                word=" " + token,
                probability=0.95,
                speaker=speaker,
            )
            for i, token in enumerate(tokens)
        ]
        segments.append(TranscriptSegment(start=start, end=end, speaker=speaker, text=text, words=words))
    transcript = Transcript(
        language="en",
        language_probability=0.99,
        duration=11.0,
        engine="faster-whisper",
        model="base.en",
        segments=segments,
        words=[w for s in segments for w in s.words],
        speakers=[
            SpeakerSummary(label=label, speech_seconds=5.0, word_count=10) for label in ("SPEAKER_00", "SPEAKER_01")
        ],
    )
    task_id, media_id = uuid.UUID(started["task_id"]), uuid.UUID(started["media_id"])
    transcript_id = uuid.uuid4()
    message = TranscribeRequest(task_id=task_id, media_id=media_id, trace_id="t", audio_key="a.flac")
    async with pool.connection() as conn, conn.transaction():
        await persist_transcript(transcript_id, message, transcript)(conn)
        await conn.execute(
            "INSERT INTO summaries (transcript_id, task_id, title, summary, keywords, chapters, model) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'SmolLM2-360M')",
            (
                transcript_id,
                task_id,
                title,
                "President Kennedy asks Americans to serve their country rather than ask what it can do for them.",
                ["public service", "citizenship", "inaugural address"],
                Jsonb([{"start_s": 0.3, "title": "The appeal"}, {"start_s": 6.4, "title": "The answer"}]),
            ),
        )
        await conn.execute(
            "INSERT INTO moderation_results (task_id, media_id, verdict, reason, frames_scanned, findings, model) "
            "VALUES (%s, %s, 'allowed', 'nothing to report', 4, '[]', 'nudenet 320n')",
            (task_id, media_id),
        )
        await conn.execute("UPDATE media SET duration_s = 11.0 WHERE id = %s", (media_id,))
        await conn.execute(
            "UPDATE tasks SET status = 'COMPLETED', current_stage = NULL, finished_at = now() WHERE id = %s",
            (task_id,),
        )


async def fail(pool: AsyncConnectionPool[Any], started: dict[str, Any], code: str, message: str) -> None:
    """End the task FAILED in its first stage, as the moderator's permanent failure does."""
    task_id = uuid.UUID(started["task_id"])
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO stage_runs (task_id, stage, state, claim_token, finished_at) "
            "VALUES (%s, 'moderate', 'failed', gen_random_uuid(), now())",
            (task_id,),
        )
        await conn.execute(
            "UPDATE tasks SET status = 'FAILED', error_code = %s, error_message = %s, finished_at = now() "
            "WHERE id = %s",
            (code, message, task_id),
        )


async def store_thumbnail(settings: Settings, pool: AsyncConnectionPool[Any], media_id: str, tmp: Path) -> None:
    """What the moderator stores for an allowed video: its first frame through the moderator's own encoder."""
    from vidpipe_moderator.engine import encode_thumbnail
    from vidpipe_moderator.testmedia import fit_to_canvas

    key = f"media/{media_id}/thumbnails/{uuid.uuid4()}.jpg"
    path = tmp / f"{media_id}.jpg"
    path.write_bytes(encode_thumbnail(fit_to_canvas(skimage.data.astronaut(), 320, 180)))
    async with open_storage(settings.aws) as storage:
        await storage.upload_file(path, key, "image/jpeg")
    async with pool.connection() as conn:
        await conn.execute("UPDATE media SET thumbnail_key = %s WHERE id = %s", (key, uuid.UUID(media_id)))
