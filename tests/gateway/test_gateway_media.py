"""Media routes: visibility rules, edits with history, subtitles, friends, re-summarise, delete, live status."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.messages import SummarizeRequest, decode_message
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import Settings
from vidpipe.taskstate import insert_event

from .conftest import auth, finish_with_transcript, running_gateway, uploaded_and_started


async def test_visibility_private_friends_public(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    started = await uploaded_and_started(client, "alice")
    media = f"/api/media/{started['media_id']}"
    await client.get("/api/me", headers=auth("bob"))  # bob and carol exist once they have signed in
    await client.get("/api/me", headers=auth("carol"))

    # private: only the owner; a stranger and an anonymous reader see nothing
    assert (await client.get(media, headers=auth("alice"))).json()["is_owner"] is True
    assert (await client.get(media, headers=auth("bob"))).status_code == 404
    assert (await client.get(media)).status_code == 404

    # friends: alice lets bob in; carol still sees nothing, bob reads but cannot edit
    assert (await client.post("/api/friends", json={"subject": "bob"}, headers=auth("alice"))).status_code == 201
    changed = await client.patch(media, json={"visibility": "friends"}, headers=auth("alice"))
    assert changed.json()["visibility"] == "friends"
    as_bob = await client.get(media, headers=auth("bob"))
    assert (as_bob.status_code, as_bob.json()["is_owner"]) == (200, False)
    assert (await client.get(media, headers=auth("carol"))).status_code == 404
    assert (await client.get(media)).status_code == 404
    denied = await client.patch(media, json={"visibility": "public"}, headers=auth("bob"))
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    # the friendship is directed: bob's friends-visible media stay closed to alice
    assert [f["subject"] for f in (await client.get("/api/friends", headers=auth("bob"))).json()] == []

    # public: anyone, without a token
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    assert (await client.get(media)).status_code == 200
    assert (await client.get(media, headers=auth("carol"))).status_code == 200
    # a bad token is refused even on a public route
    assert (await client.get(media, headers={"Authorization": "Bearer nope"})).status_code == 401

    # unfriending closes friends-visible media again
    await client.patch(media, json={"visibility": "friends"}, headers=auth("alice"))
    assert (await client.delete("/api/friends/bob", headers=auth("alice"))).status_code == 204
    assert (await client.get(media, headers=auth("bob"))).status_code == 404


async def test_speaker_names_and_segment_edits_keep_history_and_the_machine_original(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    media = f"/api/media/{started['media_id']}"

    renamed = await client.patch(f"{media}/speakers", json={"names": {"SPEAKER_00": "Ada"}}, headers=auth("alice"))
    assert renamed.json()["speakers"] == [{"label": "SPEAKER_00", "name": "Ada"}, {"label": "SPEAKER_01", "name": None}]
    edited = await client.patch(f"{media}/segments/1", json={"text": "Thank you for having me."}, headers=auth("alice"))
    assert (edited.json()["text"], edited.json()["edited"]) == ("Thank you for having me.", True)

    body = (await client.get(media, headers=auth("alice"))).json()
    assert [s["text"] for s in body["transcript"]["segments"]] == ["Hello and welcome.", "Thank you for having me."]
    assert [s["edited"] for s in body["transcript"]["segments"]] == [False, True]
    async with pool.connection() as conn:
        original = await (await conn.execute("SELECT original_text FROM transcript_segments WHERE idx = 1")).fetchone()
    assert original["original_text"] == "Thanks for having me."

    history = (await client.get(f"{media}/edits", headers=auth("alice"))).json()
    assert [(h["target"], h["target_key"], h["old_value"], h["new_value"], h["editor"]) for h in history] == [
        ("speaker_name", "SPEAKER_00", None, "Ada", "alice"),
        ("segment_text", "1", "Thanks for having me.", "Thank you for having me.", "alice"),
    ]

    # bad edits are specific errors
    unknown = await client.patch(f"{media}/speakers", json={"names": {"SPEAKER_09": "X"}}, headers=auth("alice"))
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_speaker")
    missing = await client.patch(f"{media}/segments/99", json={"text": "x"}, headers=auth("alice"))
    assert missing.status_code == 404
    blank = await client.patch(f"{media}/segments/0", json={"text": "   "}, headers=auth("alice"))
    assert blank.status_code == 400
    stranger = await client.patch(f"{media}/segments/0", json={"text": "hacked"}, headers=auth("mallory"))
    assert stranger.status_code == 404


async def test_subtitles_use_names_and_edited_text(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    media = f"/api/media/{started['media_id']}"
    await client.patch(f"{media}/speakers", json={"names": {"SPEAKER_01": "Grace"}}, headers=auth("alice"))
    await client.patch(f"{media}/segments/1", json={"text": "Glad to be here."}, headers=auth("alice"))

    srt = await client.get(f"{media}/transcript.srt", headers=auth("alice"))
    assert srt.status_code == 200
    assert 'filename="My_Interview.srt"' in srt.headers["content-disposition"]
    assert srt.text.startswith("1\n00:00:00,000 --> ")
    assert "SPEAKER_00: Hello and welcome." in srt.text
    assert "Grace: Glad to be here." in srt.text
    vtt = await client.get(f"{media}/transcript.vtt", headers=auth("alice"))
    assert vtt.text.startswith("WEBVTT")
    assert "<v Grace>Glad to be here." in vtt.text
    assert (await client.get(f"{media}/transcript.vtt", headers=auth("bob"))).status_code == 404


async def test_media_list_is_paginated_and_private(client: AsyncTestClient[Any]) -> None:
    created = [await uploaded_and_started(client, "alice") for _ in range(3)]
    await uploaded_and_started(client, "bob")
    first = (await client.get("/api/media?limit=2", headers=auth("alice"))).json()
    second = (await client.get(f"/api/media?limit=2&cursor={first['next_cursor']}", headers=auth("alice"))).json()
    listed = [m["id"] for m in first["items"] + second["items"]]
    assert listed == [c["media_id"] for c in reversed(created)]
    assert second["next_cursor"] is None
    assert all(m["status"] == "UPLOAD_COMPLETE" for m in first["items"])
    bad = await client.get("/api/media?cursor=bogus", headers=auth("alice"))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


async def test_resummarize_queues_a_summarize_task_for_the_current_transcript(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    started = await uploaded_and_started(client, "alice")
    no_transcript = await client.post(f"/api/media/{started['media_id']}/summarize", headers=auth("alice"))
    assert no_transcript.status_code == 409  # the first task is still live
    transcript_id = await finish_with_transcript(pool, started["task_id"], started["media_id"])

    response = await client.post(f"/api/media/{started['media_id']}/summarize", headers=auth("alice"))
    assert response.status_code == 202, response.text
    status = (await client.get(f"/api/video/status/{response.json()['task_id']}", headers=auth("alice"))).json()
    assert [s["stage"] for s in status["stages"]] == ["summarize"]
    async with open_sqs(settings.aws) as sqs:
        queues = await resolve_queue_urls(sqs, settings)
        received = await sqs.receive_message(QueueUrl=queues.main["summarize"], WaitTimeSeconds=1)
    message = decode_message(received["Messages"][0]["Body"])
    assert isinstance(message, SummarizeRequest) and message.transcript_id == transcript_id


async def test_delete_removes_objects_and_rows(client: AsyncTestClient[Any], settings: Settings) -> None:
    started = await uploaded_and_started(client, "alice")
    media = f"/api/media/{started['media_id']}"
    assert (await client.delete(media, headers=auth("bob"))).status_code == 404
    assert (await client.delete(media, headers=auth("alice"))).status_code == 204
    assert (await client.get(media, headers=auth("alice"))).status_code == 404
    assert (await client.get(f"/api/video/status/{started['task_id']}", headers=auth("alice"))).status_code == 404
    import boto3

    s3 = boto3.client("s3", endpoint_url=settings.aws.endpoint_url, region_name=settings.aws.region)
    assert s3.list_objects_v2(Bucket=settings.aws.bucket).get("KeyCount", 0) == 0


async def test_status_stream_sends_each_change_until_the_task_ends(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    started = await uploaded_and_started(client, "alice")
    task_id = started["task_id"]
    assert (await client.get(f"/api/video/status/{task_id}/events", headers=auth("bob"))).status_code == 404

    async def drive() -> None:
        await asyncio.sleep(0.5)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO stage_runs (task_id, stage, state, claim_token) "
                "VALUES (%s, 'moderate', 'running', gen_random_uuid())",
                (task_id,),
            )
            await conn.execute("UPDATE tasks SET status = 'PROCESSING' WHERE id = %s", (task_id,))
            await insert_event(conn, task_id, "moderate", "started")
        await asyncio.sleep(0.5)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE tasks SET status = 'FAILED', error_code = 'not_media', error_message = 'not a video' "
                "WHERE id = %s",
                (task_id,),
            )
            await insert_event(conn, task_id, "moderate", "failed", detail={"code": "not_media"})

    # A real server: the in-process test transport buffers whole responses, so it cannot show streaming.
    async with running_gateway(settings) as base_url:
        driver = asyncio.create_task(drive())
        statuses = []
        token = auth("alice")["Authorization"].split()[1]
        started_at = asyncio.get_running_loop().time()
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
            http.stream("GET", f"/api/video/status/{task_id}/events?access_token={token}") as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    statuses.append(json.loads(line[5:]))
        await driver
    assert [s["status"] for s in statuses] == ["UPLOAD_COMPLETE", "PROCESSING", "FAILED"]
    assert statuses[-1]["error"] == {"code": "not_media", "message": "not a video"}
    # NOTIFY, not the periodic re-check, delivered the changes
    assert asyncio.get_running_loop().time() - started_at < 10
