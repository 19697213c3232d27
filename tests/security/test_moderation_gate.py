"""Only an allowed video plays for anyone but its owner: sharing a video that moderation is still checking,
flagged for review or rejected shares its page (transcript, notes), never the picture."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries

from ..gateway.conftest import auth, uploaded_and_started
from .helpers import record_verdict


@pytest.mark.parametrize("verdict", [None, "flagged", "rejected"], ids=["being-checked", "flagged", "rejected"])
async def test_a_public_video_moderation_has_not_allowed_plays_for_its_owner_only(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], verdict: str | None
) -> None:
    # Given alice made a video public that moderation has not allowed (yet)
    started = await uploaded_and_started(client, "alice")
    if verdict:
        await record_verdict(pool, started, verdict)
    media = f"/api/media/{started['media_id']}"
    assert (await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))).status_code == 200
    # Then anyone else reads the page but gets no video URL; alice still plays her own upload
    for headers in ({}, auth("bob")):
        response = await client.get(media, headers=headers)
        assert response.status_code == 200
        assert response.json()["video_url"] is None
    own = (await client.get(media, headers=auth("alice"))).json()["video_url"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(own)).content == b"video"


async def test_an_allowed_public_video_plays_for_everyone(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    await record_verdict(pool, started, "allowed")
    media = f"/api/media/{started['media_id']}"
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    url = (await client.get(media)).json()["video_url"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"video"


@pytest.mark.parametrize("verdict", ["flagged", "rejected"])
async def test_a_thumbnail_from_an_earlier_allowed_run_is_not_shown_once_moderation_changed_its_mind(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], verdict: str
) -> None:
    # Given a public video that kept the thumbnail of an allowed run, and whose latest run was flagged/rejected
    started = await uploaded_and_started(client, "alice")
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            queries.record_media_thumbnail,
            {"media_id": started["media_id"], "thumbnail_key": f"media/{started['media_id']}/thumbnail.jpg"},
        )
    await record_verdict(pool, started, verdict)
    media = f"/api/media/{started['media_id']}"
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    # Then only the owner is sent to it
    for headers in ({}, auth("bob")):
        response = await client.get(f"{media}/thumbnail", headers=headers, follow_redirects=False)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    own = await client.get(f"{media}/thumbnail", headers=auth("alice"), follow_redirects=False)
    assert own.status_code == 307, own.text
