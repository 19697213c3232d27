"""What a stage handler sees and returns; the consumer loop owns everything else.

A handler is `async def handle(message, ctx) -> StageOutcome`. It does the work (blocking model code goes
through `ctx.run_blocking` so heartbeats keep running), and returns what to commit and what comes next. The
consumer commits `persist` together with the stage's completion event in one transaction, then sends
`next_message`, then deletes the delivery — so a crash at any point repeats work at worst, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from vidpipe.messages import StageMessage
from vidpipe.settings import Settings, Stage
from vidpipe.storage import Storage

T = TypeVar("T")
M_contra = TypeVar("M_contra", bound=StageMessage, contravariant=True)


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    UPLOAD_COMPLETE = "UPLOAD_COMPLETE"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.REJECTED})

Persist = Callable[[AsyncConnection[Any]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class StageOutcome:
    """The result of one successful stage run.

    `persist` writes the stage's results inside the consumer's completion transaction. Exactly one of
    `next_message` (hand over to the next stage) or `final_status` (COMPLETED or REJECTED ends the task) is set.
    """

    persist: Persist | None = None
    next_message: StageMessage | None = None
    final_status: TaskStatus | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.next_message is None) == (self.final_status is None):
            raise ValueError("a stage outcome needs exactly one of next_message or final_status")
        if self.final_status not in (None, TaskStatus.COMPLETED, TaskStatus.REJECTED):
            raise ValueError("a stage can only end a task as COMPLETED or REJECTED; failures are raised")


ProgressReporter = Callable[[float, str], None]


@dataclass(kw_only=True)
class StageContext:
    """Per-delivery services for a handler."""

    stage: Stage
    settings: Settings
    db: AsyncConnectionPool[Any]
    storage: Storage
    workdir: Path
    attempt: int
    receive_count: int
    record_progress: Callable[[float, dict[str, Any]], Awaitable[None]]
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _last_progress_at: float = 0.0

    async def progress(self, fraction: float, detail: str = "") -> None:
        """Record how far the stage is (0..1); throttled so a chatty engine cannot flood NOTIFY."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress_at < self.settings.worker.progress_min_interval_s:
            return
        self._last_progress_at = now
        await self.record_progress(min(max(fraction, 0.0), 1.0), {"detail": detail} if detail else {})

    def progress_from_thread(self) -> ProgressReporter:
        """A progress callback that engine code running in a worker thread may call."""

        def report(fraction: float, detail: str) -> None:
            asyncio.run_coroutine_threadsafe(self.progress(fraction, detail), self._loop)

        return report

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound or blocking code off the event loop, so heartbeats and shutdown keep working."""
        return await asyncio.to_thread(function, *args, **kwargs)


class Handler(Protocol[M_contra]):
    async def __call__(self, message: M_contra, ctx: StageContext, /) -> StageOutcome: ...


HandlerFactory = Callable[[Settings], contextlib.AbstractAsyncContextManager["Handler[Any]"]]
