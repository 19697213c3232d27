"""Finding 1: what was moderated is what is served, whatever the still-valid upload URL writes later."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.messages import ModerateRequest, decode_message
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import Settings

from ..gateway.conftest import auth, put, reserve

ORIGINAL = b"the moderated bytes, 40 of them........"
REPLACED = b"something else, also exactly 40 bytes.."


async def test_re_put_after_completion_changes_nothing_served(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    # Given a video uploaded, started and (as the pipeline would leave it) COMPLETED
    assert len(ORIGINAL) == len(REPLACED)
    target = (await reserve(client, "alice", size=len(ORIGINAL))).json()
    await put(target["url"], ORIGINAL, "video/mp4")
    started = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert started.status_code == 202, started.text
    task_id, media_id = started.json()["task_id"], started.json()["media_id"]
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE tasks SET status = 'COMPLETED', finished_at = now() WHERE id = %s", (task_id,))

    # When the owner PUTs other bytes of the same size through the upload URL they were given
    await put(target["url"], REPLACED, "video/mp4")

    # Then the video everyone is served is still the one the pipeline got
    media = (await client.get(f"/api/media/{media_id}", headers=auth("alice"))).json()
    assert target["object_key"] not in media["video_url"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(media["video_url"])).content == ORIGINAL

    # And reprocessing (which needs the explicit flag) runs on the pinned copy, not on the new upload
    again = await client.post(
        "/api/video/start-processing",
        json={"object_key": target["object_key"], "reprocess": True},
        headers=auth("alice"),
    )
    assert again.status_code == 202, again.text
    async with open_sqs(settings.aws) as sqs:
        queues = await resolve_queue_urls(sqs, settings)
        received = await sqs.receive_message(
            QueueUrl=queues.main["moderate"], WaitTimeSeconds=1, MaxNumberOfMessages=10
        )
    keys = {decode_message(m["Body"]).video_key for m in received["Messages"]}  # type: ignore[union-attr]
    assert len(keys) == 1 and target["object_key"] not in keys
    async with httpx.AsyncClient() as http:
        assert (await http.get(media["video_url"])).content == ORIGINAL


async def test_the_pipeline_never_gets_a_client_writable_key(client: AsyncTestClient[Any], settings: Settings) -> None:
    target = (await reserve(client, "alice", size=len(ORIGINAL))).json()
    await put(target["url"], ORIGINAL, "video/mp4")
    started = (
        await client.post(
            "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
        )
    ).json()
    async with open_sqs(settings.aws) as sqs:
        queues = await resolve_queue_urls(sqs, settings)
        received = await sqs.receive_message(QueueUrl=queues.main["moderate"], WaitTimeSeconds=1)
        message = decode_message(received["Messages"][0]["Body"])
    assert isinstance(message, ModerateRequest)
    assert message.video_key.startswith(f"media/{started['media_id']}/")
    # the client-writable upload object is gone; the pinned copy holds the bytes
    import boto3

    s3 = boto3.client("s3", endpoint_url=settings.aws.endpoint_url, region_name=settings.aws.region)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.aws.bucket).get("Contents", [])]
    assert keys == [message.video_key]
