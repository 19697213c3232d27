"""Finding 5: control characters, subtitle injection, stored vs declared object, bounded multipart parts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings

from ..gateway.conftest import auth, finish_with_transcript, put, reserve, uploaded_and_started

CUE_TIMING = re.compile(r"^\d\d:\d\d:\d\d[,.]\d{3} --> \d\d:\d\d:\d\d[,.]\d{3}$", re.MULTILINE)
INJECTION = "Hi.\n\n3\n00:00:09,000 --> 00:00:10,000\nInjected cue"


async def test_nul_and_control_characters_never_reach_the_database(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # a display-only file name is cleaned, not refused
    reserved = await client.post(
        "/api/video/upload-url",
        json={"filename": "evil\x00\x1b[31m\u202e4pm.mp4", "content_type": "video/mp4", "size": 5},
        headers=auth("alice"),
    )
    assert reserved.status_code == 201, reserved.text
    await put(reserved.json()["url"], b"video", "video/mp4")
    media = (await client.get(f"/api/media/{reserved.json()['media_id']}", headers=auth("alice"))).json()
    assert media["filename"] == "evil[31m4pm.mp4"

    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    base = f"/api/media/{started['media_id']}"
    for path, body in [
        (f"{base}/segments/0", {"text": "null \x00 byte"}),
        (f"{base}/segments/0", {"text": "bell \x07 and escape \x1b[2J"}),
        (f"{base}/speakers", {"names": {"SPEAKER_00": "Ada\x00"}}),
        (f"{base}/speakers", {"names": {"SPEAKER_00": "\u202eadA"}}),
    ]:
        response = await client.patch(path, json=body, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (422, "invalid_characters"), (body, response.text)
    friend = await client.post("/api/friends", json={"subject": "bob\x00"}, headers=auth("alice"))
    assert friend.status_code == 422


async def test_edited_text_cannot_inject_subtitle_cues(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    base = f"/api/media/{started['media_id']}"
    edited = await client.patch(f"{base}/segments/0", json={"text": INJECTION}, headers=auth("alice"))
    assert edited.status_code == 200, edited.text
    await client.patch(f"{base}/speakers", json={"names": {"SPEAKER_01": "<b>Grace</b> -->"}}, headers=auth("alice"))

    srt = (await client.get(f"{base}/transcript.srt", headers=auth("alice"))).text
    vtt = (await client.get(f"{base}/transcript.vtt", headers=auth("alice"))).text
    assert len(CUE_TIMING.findall(srt)) == 2, srt
    assert len(CUE_TIMING.findall(vtt)) == 2, vtt
    assert "<b>" not in vtt and "&lt;b&gt;Grace&lt;/b&gt;" in vtt


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitle_writers_drop_control_and_bidi_characters(kind: str) -> None:
    from vidpipe.subtitles import to_srt, to_vtt
    from vidpipe_transcriber.models import TranscriptSegment

    writer = to_srt if kind == "srt" else to_vtt

    segments = [
        TranscriptSegment(start=0.0, end=1.0, speaker="S", text="ring\x07 esc\x1b[2J rlo\u202egnp.exe", words=[]),
        TranscriptSegment(start=1.0, end=2.0, speaker="S", text=INJECTION, words=[]),
    ]
    text = writer(segments, {"S": "Eve\r\n\r\n99\n00:00:00,000 --> 00:00:01,000"})
    assert not any(ch in text for ch in "\x07\x1b\u202e\r")
    assert len(CUE_TIMING.findall(text)) == 2, text


@pytest.mark.parametrize(
    ("declared", "stored", "stored_type", "status", "code"),
    [
        (100, b"x" * 300, "video/mp4", 409, "upload_mismatch"),  # bigger than declared
        (100, b"x" * 100, "video/x-evil", 415, "unsupported_content_type"),
        (100, b"x" * 100, "video/webm", 409, "upload_mismatch"),  # an accepted type, but not the declared one
    ],
)
async def test_the_stored_object_must_match_the_declaration(
    client: AsyncTestClient[Any], declared: int, stored: bytes, stored_type: str, status: int, code: str
) -> None:
    target = (await reserve(client, "alice", size=declared)).json()
    await put(target["url"], stored, stored_type)  # moto, unlike S3, does not enforce the signed size and type
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    # nothing was queued: the media can be started again once a correct upload is there
    media = (await client.get(f"/api/media/{target['media_id']}", headers=auth("alice"))).json()
    assert media["task"] is None


async def test_multipart_part_urls_sign_their_exact_size(client: AsyncTestClient[Any], settings: Settings) -> None:
    part = settings.gateway.multipart_part_bytes
    size = settings.gateway.multipart_threshold_bytes + 7
    body = (await reserve(client, "alice", size=size)).json()
    assert body["method"] == "MULTIPART"
    for p in body["parts"]:
        query = parse_qs(urlsplit(p["url"]).query)
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";"), p["url"]
    sizes = [min(part, size - (p["part_number"] - 1) * part) for p in body["parts"]]
    assert sum(sizes) == size
    # completing with parts that do not add up to the reservation is refused before storage sees it
    too_few = await client.post(
        "/api/video/complete-upload",
        json={
            "object_key": body["object_key"],
            "upload_id": body["upload_id"],
            "parts": [{"part_number": 1, "etag": "x"}],
        },
        headers=auth("alice"),
    )
    assert (too_few.status_code, too_few.json()["code"]) == (400, "multipart_incomplete")
