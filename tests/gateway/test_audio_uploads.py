"""Audio-only recordings are accepted uploads: every audio type a browser or `vidpipe process` declares for
m4a, mp3, wav, ogg/opus, flac and webm audio; anything else (text, images) is still refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from vidpipe.client import guess_content_type
from vidpipe.testing import shipped_audio

from .conftest import auth, put, reserve

pytestmark = pytest.mark.integration

AUDIO_TYPES = [
    "audio/mp4",
    "audio/x-m4a",
    "audio/mpeg",
    "audio/wav",
    "audio/x-wav",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "audio/webm",
    "audio/aac",
]


@pytest.mark.parametrize("content_type", AUDIO_TYPES)
async def test_audio_types_can_be_reserved(client: AsyncTestClient[Any], content_type: str) -> None:
    response = await reserve(client, "alice", content_type=content_type)
    assert response.status_code == 201, response.text
    assert response.json()["headers"]["Content-Type"] == content_type


@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "application/pdf", "audio/midi"])
async def test_other_types_are_still_refused(client: AsyncTestClient[Any], content_type: str) -> None:
    response = await reserve(client, "alice", content_type=content_type)
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_content_type")
    assert "video or audio" in response.json()["message"]
    assert (await client.get("/api/media", headers=auth("alice"))).json()["items"] == []


@pytest.mark.parametrize("name", ["meeting.m4a", "memo.mp3", "call.wav", "talk.ogg", "talk.opus", "jfk.flac"])
def test_the_cli_declares_an_accepted_type_for_audio_files(name: str) -> None:
    from vidpipe.settings import GatewaySettings

    assert guess_content_type(Path(name)) in GatewaySettings().allowed_content_types


async def test_an_audio_upload_starts_processing(client: AsyncTestClient[Any]) -> None:
    data = shipped_audio("jfk.flac").read_bytes()
    target = (await reserve(client, "alice", size=len(data), content_type="audio/flac")).json()
    await put(target["url"], data, "audio/flac")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert response.status_code == 202, response.text
    media = (await client.get(f"/api/media/{target['media_id']}", headers=auth("alice"))).json()
    assert media["content_type"] == "audio/flac" and media["video_url"]
