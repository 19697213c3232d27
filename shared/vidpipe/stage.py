"""What a stage handler sees and returns, and how a stage plugs into the platform.

A handler is `async def handle(message, ctx) -> StageOutcome`. It does the work (blocking model code goes
through `ctx.run_blocking` so heartbeats keep running), and returns what to commit and what comes next. The
runner commits `persist` together with the stage's completion event in one transaction, then sends
`next_message`, then deletes the delivery — so a crash at any point repeats work at worst, never loses it.

A stage plugs in with a `StageSpec` published under the `vidpipe.stages` entry point group: the platform
never imports a service by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec
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


@dataclass(frozen=True)
class Rejection:
    """Why a stage refused the input: a stable code and a sentence for the user."""

    code: str
    reason: str

    def as_detail(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


@dataclass(frozen=True, kw_only=True)
class StageOutcome:
    """The result of one successful stage run.

    `persist` writes the stage's results inside the completion transaction. Exactly one of `next_message`
    (hand over to the next stage) or `final_status` (the task ends) is set; a REJECTED task carries its
    `rejection` (build it with `StageOutcome.reject`). `stored_objects` are the storage keys the handler wrote
    for this task: if the task is gone when the results would be committed (its media was deleted while the
    stage ran, after the delete had cleared the media's objects), the runner deletes them, so nothing of a
    deleted video stays behind.
    """

    persist: Persist | None = None
    next_message: StageMessage | None = None
    final_status: TaskStatus | None = None
    rejection: Rejection | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    stored_objects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.next_message is None) == (self.final_status is None):
            raise ValueError("a stage outcome needs exactly one of next_message or final_status")
        if self.final_status not in (None, TaskStatus.COMPLETED, TaskStatus.REJECTED):
            raise ValueError("a stage can only end a task as COMPLETED or REJECTED; failures are raised")
        if (self.final_status is TaskStatus.REJECTED) != (self.rejection is not None):
            raise ValueError("a REJECTED outcome, and only that, carries a rejection (use StageOutcome.reject)")

    @classmethod
    def reject(
        cls, code: str, reason: str, *, persist: Persist | None = None, detail: dict[str, Any] | None = None
    ) -> StageOutcome:
        """End the task as REJECTED (the input was refused, e.g. by moderation) with a readable reason."""
        return cls(
            persist=persist,
            final_status=TaskStatus.REJECTED,
            rejection=Rejection(code, reason),
            detail=detail or {},
        )

    def next_message_json(self) -> Any:
        """The outbox form of `next_message` (plain JSON types), or None."""
        return msgspec.to_builtins(self.next_message) if self.next_message is not None else None


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
    record_progress: Callable[[float, dict[str, Any]], Awaitable[object]]
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _last_progress_at: float = 0.0
    _from_threads: set[Future[None]] = field(default_factory=set)

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
            future = asyncio.run_coroutine_threadsafe(self.progress(fraction, detail), self._loop)
            self._from_threads.add(future)
            future.add_done_callback(self._from_threads.discard)

        return report

    async def settle_progress(self) -> None:
        """Wait for progress reports still on their way from engine threads (before the stage commits)."""
        pending = [asyncio.wrap_future(f, loop=self._loop) for f in list(self._from_threads)]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound or blocking code off the event loop, so heartbeats and shutdown keep working."""
        return await asyncio.to_thread(function, *args, **kwargs)


class Handler(Protocol[M_contra]):
    async def __call__(self, message: M_contra, ctx: StageContext, /) -> StageOutcome: ...


HandlerFactory = Callable[[Settings], contextlib.AbstractAsyncContextManager["Handler[Any]"]]


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    """How a service plugs a stage into the platform (published under the `vidpipe.stages` entry points).

    `max_concurrency` is what the engine can safely run at once in one process (a model pipeline that keeps
    per-call state, one local LLM server): the runner never exceeds it, whatever WORKER_CONCURRENCY says.
    `shutdown_grace_s` is how long a SIGTERM waits for a running job: at least the stage's worst case, so
    a scale-in or deploy does not throw finished-but-uncommitted work away.
    """

    name: Stage
    handler_factory: HandlerFactory
    max_concurrency: int = 1
    shutdown_grace_s: float = 60.0
