"""The live-status hub's fan-out rules, in memory (no Postgres): one load per burst of events, shared by all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from vidpipe_gateway.errors import ApiError
from vidpipe_gateway.events import TaskEventHub
from vidpipe_gateway.schemas import TaskStatusResponse

TASK = uuid.uuid4()
USER = uuid.uuid4()


def status(value: str) -> TaskStatusResponse:
    now = datetime.now(UTC)
    return TaskStatusResponse(
        task_id=TASK, media_id=TASK, status=value, current_stage=None, progress_percent=0.0, stages=[],
        flagged=False, error=None, created_at=now, updated_at=now, finished_at=None,
    )  # fmt: skip


class Store:
    def __init__(self) -> None:
        self.current: TaskStatusResponse | None = status("UPLOAD_COMPLETE")
        self.loads = 0

    async def load(self, task_id: uuid.UUID) -> TaskStatusResponse | None:
        self.loads += 1
        await asyncio.sleep(0.01)  # a query takes a moment: notifications arrive meanwhile
        return self.current


def note() -> str:
    return msgspec.json.encode({"task_id": TASK}).decode()


async def collect(hub: TaskEventHub, user: uuid.UUID = USER) -> list[str]:
    return [msgspec.json.decode(body)["status"] async for body in hub.stream(TASK, user)]


async def test_a_burst_of_events_costs_one_or_two_loads_for_any_number_of_watchers() -> None:
    store = Store()
    hub = TaskEventHub(store.load)
    watchers = [asyncio.create_task(collect(hub)) for _ in range(200)]
    await asyncio.sleep(0.05)
    assert store.loads == 1  # the first status, shared

    store.loads = 0
    store.current = status("PROCESSING")
    for _ in range(50):
        hub.notify(note())
    await asyncio.sleep(0.05)
    assert store.loads <= 2

    store.current = status("COMPLETED")
    hub.notify(note())
    results = await asyncio.wait_for(asyncio.gather(*watchers), timeout=5)
    assert all(r == ["UPLOAD_COMPLETE", "PROCESSING", "COMPLETED"] for r in results)


async def test_a_deleted_task_ends_its_streams_and_other_tasks_are_not_loaded() -> None:
    store = Store()
    hub = TaskEventHub(store.load)
    watcher = asyncio.create_task(collect(hub))
    await asyncio.sleep(0.05)
    hub.notify(msgspec.json.encode({"task_id": uuid.uuid4()}).decode())  # nobody watches that one
    hub.notify("not json")
    await asyncio.sleep(0.05)
    assert store.loads == 1
    store.current = None
    hub.notify(note())
    assert await asyncio.wait_for(watcher, timeout=5) == ["UPLOAD_COMPLETE"]


async def test_streams_per_user_are_capped_and_given_back() -> None:
    store = Store()
    hub = TaskEventHub(store.load, max_streams_per_user=2)
    watchers = [asyncio.create_task(collect(hub)) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(ApiError) as refused:
        hub.check_stream_cap(USER)
    assert (refused.value.status_code, refused.value.code) == (429, "too_many_streams")
    hub.check_stream_cap(uuid.uuid4())  # another user is not affected
    store.current = status("FAILED")
    hub.notify(note())
    await asyncio.wait_for(asyncio.gather(*watchers), timeout=5)
    hub.check_stream_cap(USER)  # the ended streams no longer count
