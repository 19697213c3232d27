"""Live task status over Server-Sent Events, fed by PostgreSQL LISTEN/NOTIFY and fanned out in memory.

One LISTEN connection per gateway process receives every task event (the trigger on task_events). For each
task somebody watches there is one feed: a notification makes the feed load the task's status once and hand
the same encoded body to every watcher, so 300 watchers of one task cost one status query per event, not 300
(which used to drain the pool and stall every other route). Loads of one feed never overlap: notifications
that arrive while one runs fold into a single follow-up load. A periodic re-check of every watched feed
covers a missed notification (e.g. during a reconnect). Each user may hold a bounded number of streams.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import psycopg
import structlog

from vidpipe.settings import DatabaseSettings
from vidpipe_gateway.errors import ApiError
from vidpipe_gateway.schemas import TaskStatusResponse

log = structlog.get_logger("vidpipe.gateway.events")

TERMINAL = {"COMPLETED", "FAILED", "REJECTED"}
RECHECK_S = 15.0
CHANNEL = "vidpipe_task_events"

StatusLoader = Callable[[uuid.UUID], Awaitable[TaskStatusResponse | None]]


class _Payload(msgspec.Struct):
    task_id: uuid.UUID


class _Feed:
    """The latest status of one watched task, shared by all its watchers."""

    def __init__(self) -> None:
        self.watchers = 0
        self.version = 0
        self.body: str | None = None  # JSON of the status; None once published: the task is gone
        self.terminal = False
        self.published = asyncio.Event()  # replaced after every publish; waiters hold the old one
        self.loading: asyncio.Task[None] | None = None
        self.stale = False

    def publish(self, body: str | None, terminal: bool) -> None:
        self.body, self.terminal = body, terminal
        self.version += 1
        done, self.published = self.published, asyncio.Event()
        done.set()


class TaskEventHub:
    """Fans NOTIFY payloads out to the streams that watch each task, one status load per task per change."""

    def __init__(self, load_status: StatusLoader, *, max_streams_per_user: int = 0) -> None:
        self._load_status = load_status
        self._max_streams = max_streams_per_user
        self._feeds: dict[uuid.UUID, _Feed] = {}
        self._streams: dict[uuid.UUID, int] = {}
        self._decoder = msgspec.json.Decoder(_Payload)

    def check_stream_cap(self, user_id: uuid.UUID) -> None:
        """429 when the user already holds the most streams allowed on this process."""
        if self._max_streams and self._streams.get(user_id, 0) >= self._max_streams:
            raise ApiError(
                429, "too_many_streams", f"at most {self._max_streams} live status streams per user", retry_after_s=5
            )

    async def stream(self, task_id: uuid.UUID, user_id: uuid.UUID) -> AsyncIterator[str]:
        """Every distinct status of the task (JSON), from now until it ends or is deleted.

        The stream counts against its user's cap only while it runs: a response that never started streaming
        (the client left first) holds nothing.
        """
        self._streams[user_id] = self._streams.get(user_id, 0) + 1
        feed = self._feeds.setdefault(task_id, _Feed())
        feed.watchers += 1
        try:
            if feed.version == 0:
                self._refresh(task_id, feed)
            seen, last = 0, ""
            while True:
                if feed.version == seen:
                    await feed.published.wait()
                seen = feed.version
                if feed.body is None:
                    return
                if feed.body != last:
                    last = feed.body
                    yield last
                if feed.terminal:
                    return
        finally:
            feed.watchers -= 1
            if not feed.watchers and self._feeds.get(task_id) is feed:
                del self._feeds[task_id]
            self._streams[user_id] -= 1
            if not self._streams[user_id]:
                del self._streams[user_id]

    def _refresh(self, task_id: uuid.UUID, feed: _Feed) -> None:
        if feed.loading is not None:
            feed.stale = True  # the running load re-runs once, however many notifications came meanwhile
            return
        feed.loading = asyncio.create_task(self._load(task_id, feed), name=f"task-status-{task_id}")

    async def _load(self, task_id: uuid.UUID, feed: _Feed) -> None:
        try:
            while True:
                feed.stale = False
                try:
                    status = await self._load_status(task_id)
                except Exception as error:
                    # Keep the last good status: the periodic re-check (or the next event) tries again.
                    log.warning("status_load_failed", task_id=str(task_id), error=repr(error))
                    return
                if status is None:
                    feed.publish(None, True)
                else:
                    feed.publish(msgspec.json.encode(status).decode(), status.status in TERMINAL)
                if not feed.stale or feed.terminal:
                    return
        finally:
            feed.loading = None

    def refresh_all(self) -> None:
        for task_id, feed in list(self._feeds.items()):
            self._refresh(task_id, feed)

    def notify(self, payload: str) -> None:
        try:
            task_id = self._decoder.decode(payload).task_id
        except msgspec.DecodeError:
            return
        feed = self._feeds.get(task_id)
        if feed is not None:
            self._refresh(task_id, feed)

    async def run(self, settings: DatabaseSettings) -> None:
        """LISTEN (reconnecting after a database hiccup) and re-check every watched task now and then."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._listen(settings))
            group.create_task(self._recheck())

    async def _recheck(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_S)
            self.refresh_all()

    async def _listen(self, settings: DatabaseSettings) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    settings.url.get_secret_value(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.refresh_all()  # whatever happened while we were not listening
                    async for note in conn.notifies():
                        self.notify(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("listen_failed", error=repr(error))
                await asyncio.sleep(1.0)
