from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.localinfra import free_port
from vidpipe.settings import AuthSettings, Settings
from vidpipe.tokens import mint_local_token
from vidpipe_gateway.app import create_app

SECRET = "test-secret-" + "x" * 32


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[str]:
    """The gateway under uvicorn on a free loopback port, for what only a real server shows (streaming)."""
    settings = settings.model_copy(update={"auth": AuthSettings(jwt_secret=SECRET)})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings.model_copy(update={"auth": AuthSettings(jwt_secret=SECRET)})
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


def auth(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_local_token(AuthSettings(jwt_secret=SECRET), subject)}"}


async def reserve(client: AsyncTestClient[Any], user: str, size: int = 1000, content_type: str = "video/mp4") -> Any:
    return await client.post(
        "/api/video/upload-url",
        json={"filename": "../../etc/My Interview.mp4", "content_type": content_type, "size": size},
        headers=auth(user),
    )


async def put(url: str, data: bytes, content_type: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.put(url, content=data, headers={"Content-Type": content_type})
        response.raise_for_status()


async def uploaded_and_started(client: AsyncTestClient[Any], user: str) -> dict[str, Any]:
    target = (await reserve(client, user, size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth(user)
    )
    assert response.status_code == 202, response.text
    return {**response.json(), "object_key": target["object_key"]}


async def finish_with_transcript(pool: AsyncConnectionPool[Any], task_id: str, media_id: str) -> uuid.UUID:
    """Store a two-speaker transcript through the transcriber's own persist code and end the task."""
    from vidpipe.messages import TranscribeRequest
    from vidpipe.transcript import SpeakerSummary, Transcript, TranscriptSegment, TranscriptWord
    from vidpipe_transcriber.handler import persist_transcript

    def words(start: float, text: str, speaker: str) -> list[TranscriptWord]:
        return [
            TranscriptWord(
                start=start + i * 0.5, end=start + i * 0.5 + 0.4, word=" " + w, probability=0.9, speaker=speaker
            )
            for i, w in enumerate(text.split())
        ]

    segments = [
        TranscriptSegment(start=0.0, end=1.4, speaker="SPEAKER_00", text="Hello and welcome.",
                          words=words(0.0, "Hello and welcome.", "SPEAKER_00")),
        TranscriptSegment(start=2.0, end=3.4, speaker="SPEAKER_01", text="Thanks for having me.",
                          words=words(2.0, "Thanks for having me.", "SPEAKER_01")),
    ]  # fmt: skip
    transcript = Transcript(
        language="en", language_probability=0.99, duration=4.0, engine="test-data", model="none",
        segments=segments, words=[w for s in segments for w in s.words],
        speakers=[SpeakerSummary(label="SPEAKER_00", speech_seconds=1.4, word_count=3),
                  SpeakerSummary(label="SPEAKER_01", speech_seconds=1.4, word_count=4)],
    )  # fmt: skip
    transcript_id = uuid.uuid4()
    message = TranscribeRequest(
        task_id=uuid.UUID(task_id), media_id=uuid.UUID(media_id), trace_id="t", audio_key="a.flac"
    )
    async with pool.connection() as conn, conn.transaction():
        await persist_transcript(transcript_id, message, transcript)(conn)
        await conn.execute(
            "UPDATE tasks SET status = 'COMPLETED', finished_at = now() WHERE id = %s", (uuid.UUID(task_id),)
        )
    return transcript_id
