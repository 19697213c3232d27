"""Live task status over Server-Sent Events, fed by PostgreSQL LISTEN/NOTIFY.

One LISTEN connection per gateway process receives every task event (the trigger on task_events) and wakes
the streams watching that task; each stream then recomputes the status and sends it if it changed. A stream
ends after a terminal status. A periodic re-check covers a missed notification (e.g. a reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import structlog
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from vidpipe.db.queries import queries
from vidpipe.settings import DatabaseSettings
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import not_found
from vidpipe_gateway.status import task_status

log = structlog.get_logger("vidpipe.gateway.events")

TERMINAL = {"COMPLETED", "FAILED", "REJECTED"}
RECHECK_S = 15.0
CHANNEL = "vidpipe_task_events"


class _Payload(msgspec.Struct):
    task_id: uuid.UUID


class TaskEventHub:
    """Fans NOTIFY payloads out to the streams that watch each task."""

    def __init__(self) -> None:
        self._watchers: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._decoder = msgspec.json.Decoder(_Payload)

    @contextlib.contextmanager
    def watch(self, task_id: uuid.UUID) -> Any:
        event = asyncio.Event()
        self._watchers[task_id].add(event)
        try:
            yield event
        finally:
            self._watchers[task_id].discard(event)
            if not self._watchers[task_id]:
                del self._watchers[task_id]

    def wake_all(self) -> None:
        for events in self._watchers.values():
            for event in events:
                event.set()

    async def listen(self, settings: DatabaseSettings) -> None:
        """Run until cancelled; reconnects after a database hiccup (and wakes everyone to re-check)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    settings.url.get_secret_value(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.wake_all()
                    async for note in conn.notifies():
                        try:
                            task_id = self._decoder.decode(note.payload).task_id
                        except msgspec.DecodeError:
                            continue
                        for event in self._watchers.get(task_id, ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("listen_failed", error=repr(error))
                await asyncio.sleep(1.0)


@get("/api/video/status/{task_id:uuid}/events", tags=["videos"], summary="Live status as Server-Sent Events")
async def status_events(
    request: Request[CurrentUser, Any, Any], state: State, task_id: FromPath[uuid.UUID]
) -> ServerSentEvent:
    owner_id = request.user.id
    async with state.pool.connection() as conn:
        if (
            await (await conn.execute(queries.get_task_for_user, {"task_id": task_id, "owner_id": owner_id})).fetchone()
            is None
        ):
            raise not_found("task")

    async def stream() -> AsyncIterator[str]:
        hub: TaskEventHub = state.events
        last = b""
        with hub.watch(task_id) as changed:
            while True:
                changed.clear()
                async with state.pool.connection() as conn:
                    task = await (
                        await conn.execute(queries.get_task_for_user, {"task_id": task_id, "owner_id": owner_id})
                    ).fetchone()
                    if task is None:  # deleted while watched
                        return
                    status = await task_status(conn, task)
                body = msgspec.json.encode(status)
                if body != last:
                    last = body
                    yield body.decode()
                if status.status in TERMINAL:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=RECHECK_S)

    return ServerSentEvent(stream(), event_type="status")
