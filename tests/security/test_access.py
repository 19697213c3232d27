"""Finding 6: edit history for owners, query tokens only where needed, no account probing, no empty subject."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings

from ..gateway.conftest import SECRET, auth, finish_with_transcript, uploaded_and_started
from .helpers import record_verdict


async def test_edit_history_is_for_the_owner_only(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    media = f"/api/media/{started['media_id']}"
    await client.patch(f"{media}/segments/0", json={"text": "A private first draft."}, headers=auth("alice"))
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))

    # a reader of the public media sees the transcript but not its history
    assert (await client.get(media, headers=auth("bob"))).status_code == 200
    assert (await client.get(f"{media}/edits", headers=auth("bob"))).status_code == 403
    assert (await client.get(f"{media}/edits")).status_code == 401
    assert len((await client.get(f"{media}/edits", headers=auth("alice"))).json()) == 2


async def test_query_string_tokens_work_only_for_streams_and_downloads(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    token = auth("alice")["Authorization"].split()[1]
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    for path in ("/api/me", "/api/media", f"/api/video/status/{started['task_id']}"):
        response = await client.get(f"{path}?access_token={token}")
        assert response.status_code == 401, path
    srt = await client.get(f"/api/media/{started['media_id']}/transcript.srt?access_token={token}")
    assert srt.status_code == 200


async def test_friend_requests_do_not_reveal_whether_a_subject_exists(client: AsyncTestClient[Any]) -> None:
    await client.get("/api/me", headers=auth("bob"))  # bob has signed in; nobody-here never did
    known = await client.post("/api/friends", json={"subject": "bob"}, headers=auth("alice"))
    unknown = await client.post("/api/friends", json={"subject": "nobody-here"}, headers=auth("alice"))
    assert (known.status_code, unknown.status_code) == (201, 201)
    assert known.json().keys() == unknown.json().keys()
    # and the friendship holds once that person signs in
    friends = (await client.get("/api/friends", headers=auth("alice"))).json()
    assert sorted(f["subject"] for f in friends) == ["bob", "nobody-here"]


async def test_a_token_with_an_empty_subject_creates_no_user(client: AsyncTestClient[Any]) -> None:
    now = int(time.time())
    claims = {"sub": "", "iss": "vidpipe-local", "aud": "vidpipe", "iat": now, "exp": now + 60}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_video_urls_handed_to_viewers_are_short_lived(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    # A presigned URL cannot be revoked when the owner makes the media private again: keep its life short.
    started = await uploaded_and_started(client, "alice")
    await record_verdict(pool, started, "allowed")  # only an allowed video plays for others
    media = f"/api/media/{started['media_id']}"
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    url = (await client.get(media)).json()["video_url"]
    expires = int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])
    assert expires == settings.gateway.video_url_expiry_s <= 900
