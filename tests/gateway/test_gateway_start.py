"""start-processing under concurrency, and the order of its writes: one live task per media; `queued` first."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.queues import send_stage_message
from vidpipe.settings import Settings
from vidpipe.testing import task_events
from vidpipe_gateway import services

from .conftest import auth, put, reserve


async def test_twenty_concurrent_starts_make_exactly_one_task(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given one uploaded video
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")

    # When twenty start-processing requests for it arrive at once
    responses = await asyncio.gather(
        *(
            client.post("/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice"))
            for _ in range(20)
        )
    )

    # Then exactly one made a task and every other one was told it is already processing
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * 19, [r.text for r in responses if r.status_code not in (202, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_processing"}
    async with pool.connection() as conn:
        rows = await (await conn.execute("SELECT id FROM tasks WHERE media_id = %s", (target["media_id"],))).fetchall()
    assert len(rows) == 1


async def test_the_database_itself_refuses_a_second_live_task(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    await client.post("/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tasks (media_id, status, trace_id) VALUES (%s, 'PENDING', 't')", (target["media_id"],)
            )


async def test_queued_is_committed_before_the_first_message_is_sent(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker may claim the message the moment it is sent, so `queued` must already be there by then.
    seen_at_send: list[list[str]] = []
    send = send_stage_message

    async def observing_send(sqs: Any, queues: Any, message: Any) -> str:
        seen_at_send.append([e["kind"] for e in await task_events(pool, message.task_id)])
        return await send(sqs, queues, message)

    monkeypatch.setattr(services, "send_stage_message", observing_send)
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert response.status_code == 202, response.text
    assert seen_at_send == [["queued"]]


async def test_an_unreachable_queue_fails_the_task_with_a_reason(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*_: Any) -> str:
        raise ConnectionError("sqs is down")

    monkeypatch.setattr(services, "send_stage_message", unreachable)
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert (response.status_code, response.json()["code"]) == (503, "queue_unavailable")
    status = (await client.get(f"/api/media/{target['media_id']}", headers=auth("alice"))).json()["task"]
    assert (status["status"], status["error"]["code"]) == ("FAILED", "queue_unavailable")
    async with pool.connection() as conn:
        kinds = [
            r["kind"]
            for r in await (
                await conn.execute("SELECT kind FROM task_events WHERE task_id = %s ORDER BY id", (status["task_id"],))
            ).fetchall()
        ]
    assert kinds == ["queued", "failed"]
