"""Finding 4: one status load per task event however many watch it, and a cap on streams per user."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import GatewaySettings, Settings
from vidpipe.taskstate import insert_event

from ..gateway.conftest import auth, running_gateway, uploaded_and_started

WATCHERS = 30


async def test_many_watchers_share_one_status_load_per_event(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await uploaded_and_started(client, "alice")
    task_id = started["task_id"]
    # Count status computations: every one reads the task's stage runs once.
    loads = 0
    execute = psycopg.AsyncConnection.execute

    async def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal loads
        if query == queries.stage_runs_for_task:
            loads += 1
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", counting)
    limits = settings.gateway.model_dump() | {"max_streams_per_user": WATCHERS}
    settings = settings.model_copy(update={"gateway": GatewaySettings(**limits)})
    token = auth("alice")["Authorization"].split()[1]
    url = f"/api/video/status/{task_id}/events?access_token={token}"
    received: list[list[str]] = [[] for _ in range(WATCHERS)]
    first_seen = asyncio.Event()
    second_seen = asyncio.Event()

    async def watch(http: httpx.AsyncClient, mine: list[str]) -> None:
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    mine.append(json.loads(line[5:])["status"])
                    if all(received):
                        first_seen.set()
                    if all(len(r) >= 2 for r in received):
                        second_seen.set()

    async with running_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        watchers = [asyncio.create_task(watch(http, mine)) for mine in received]
        await asyncio.wait_for(first_seen.wait(), timeout=60)
        # a stream beyond the per-user cap is refused
        async with http.stream("GET", f"/api/video/status/{task_id}/events", headers=auth("alice")) as extra:
            assert extra.status_code == 429
            assert json.loads(await extra.aread())["code"] == "too_many_streams"

        # When one event happens
        loads = 0
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("UPDATE tasks SET status = 'FAILED' WHERE id = %s", (task_id,))
            await insert_event(conn, task_id, "moderate", "failed", detail={"code": "test"})
        await asyncio.wait_for(second_seen.wait(), timeout=60)
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=30)

    # Then every watcher saw it, and the status was loaded about once, not once per watcher
    assert all(r == ["UPLOAD_COMPLETE", "FAILED"] for r in received), received
    assert loads <= 2, f"{loads} status loads for one event and {WATCHERS} watchers"
