"""In-memory queues and task store with the real ones' rules, for the fast unit tier.

Like procrastinate's InMemoryConnector: the stage runner and the consumer run unchanged against these, so
their rules are tested in milliseconds, while the real-service tiers test the same rules end to end.
Time is a `ManualClock` the test moves forward, so visibility timeouts and stale claims need no sleeping.

What these keep of the real services: SQS visibility, receive counts, the redrive policy (a message received
`max_receive_count` times goes to the DLQ on its next receive), only the latest receipt handle deletes;
every guard of `TaskStore` (see vidpipe.taskstore), events in the order they were written.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from vidpipe.deliveries import Delivery
from vidpipe.messages import StageMessage, encode_message, stage_of
from vidpipe.settings import STAGES, Stage
from vidpipe.stage import TERMINAL_STATUSES, StageOutcome, TaskStatus
from vidpipe.taskstore import AbandonedBy, Claim, ClaimResult, next_stage


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@dataclass
class _Stored:
    message_id: str
    body: str
    error: str | None = None
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


class InMemoryBroker:
    """Named queues `<stage>` and `<stage>-dlq`, with SQS's visibility and redrive rules."""

    def __init__(self, clock: ManualClock, *, max_receive_count: int = 4) -> None:
        self.clock = clock
        self.max_receive_count = max_receive_count
        self.queues: dict[str, list[_Stored]] = {}
        for stage in STAGES:
            self.queues[stage] = []
            self.queues[f"{stage}-dlq"] = []
        self._arrival = asyncio.Event()

    def send(self, queue: str, body: str, *, error: str | None = None) -> str:
        message_id = str(uuid.uuid4())
        self.queues[queue].append(_Stored(message_id, body, error, visible_at=self.clock()))
        self._arrival.set()
        return message_id

    def send_message(self, message: StageMessage) -> str:
        return self.send(stage_of(message), encode_message(message))

    async def receive(self, queue: str, max_messages: int, *, wait_s: float, visibility_s: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        waited = False
        while True:
            got = self._take_visible(queue, max_messages, visibility_s)
            remaining = deadline - loop.time()
            # Even an empty short poll takes a moment, as a real round trip does: a consumer polling with
            # WaitTimeSeconds=0 must not spin the event loop.
            if got or (remaining <= 0 and waited):
                return got
            self._arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrival.wait(), timeout=min(max(remaining, 0.005), 0.01))
            waited = True

    def _take_visible(self, queue: str, max_messages: int, visibility_s: float) -> list[Delivery]:
        got: list[Delivery] = []
        now = self.clock()
        for stored in list(self.queues[queue]):
            if len(got) >= max_messages:
                break
            if stored.visible_at > now:
                continue
            if not queue.endswith("-dlq") and stored.receive_count >= self.max_receive_count:
                self.queues[queue].remove(stored)  # the redrive policy
                self.queues[f"{queue}-dlq"].append(_Stored(stored.message_id, stored.body, visible_at=now))
                continue
            stored.receive_count += 1
            stored.visible_at = now + visibility_s
            stored.receipt = str(uuid.uuid4())
            got.append(Delivery(stored.body, stored.receipt, stored.message_id, stored.receive_count, stored.error))
        return got

    def _find(self, queue: str, receipt: str) -> _Stored | None:
        return next((s for s in self.queues[queue] if s.receipt == receipt), None)

    def delete(self, queue: str, receipt: str) -> None:
        stored = self._find(queue, receipt)
        if stored is not None:
            self.queues[queue].remove(stored)

    def set_visibility(self, queue: str, receipt: str, seconds: float) -> None:
        stored = self._find(queue, receipt)
        if stored is not None:
            stored.visible_at = self.clock() + seconds
            if seconds == 0:
                self._arrival.set()

    def depth(self, queue: str) -> tuple[int, int]:
        """(visible, in flight), as SQS's approximate counts."""
        now = self.clock()
        visible = sum(1 for s in self.queues[queue] if s.visible_at <= now)
        return visible, len(self.queues[queue]) - visible

    def bodies(self, queue: str) -> list[str]:
        return [s.body for s in self.queues[queue]]


class InMemoryQueues:
    """One stage's view of an `InMemoryBroker` (the `StageQueues` protocol)."""

    def __init__(self, broker: InMemoryBroker, stage: Stage) -> None:
        self.broker = broker
        self.stage = stage

    async def receive(self, max_messages: int, *, wait_s: int, visibility_s: int) -> list[Delivery]:
        return await self.broker.receive(self.stage, max_messages, wait_s=wait_s, visibility_s=visibility_s)

    async def receive_dead_letters(self, max_messages: int, *, visibility_s: int) -> list[Delivery]:
        return await self.broker.receive(f"{self.stage}-dlq", max_messages, wait_s=0, visibility_s=visibility_s)

    async def delete(self, delivery: Delivery) -> None:
        self.broker.delete(self.stage, delivery.receipt_handle)

    async def set_visibility(self, delivery: Delivery, seconds: int) -> None:
        self.broker.set_visibility(self.stage, delivery.receipt_handle, seconds)

    async def send(self, message: StageMessage) -> None:
        self.broker.send_message(message)

    async def dead_letter(self, body: str, reason: str) -> None:
        self.broker.send(f"{self.stage}-dlq", body, error=reason)


@dataclass
class TaskRecord:
    status: TaskStatus
    current_stage: Stage | None
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class RunRecord:
    state: str
    attempt: int
    claim_token: uuid.UUID
    claim_message_id: str | None
    heartbeat_at: float
    next_message: Any = None
    handed_off: bool = False


@dataclass(frozen=True)
class Event:
    task_id: uuid.UUID
    stage: Stage | None
    kind: str
    attempt: int
    progress: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class RecordingConnection:
    """What a handler's `persist` gets in the unit tier: it records statements instead of running them."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, Any]] = []

    async def execute(self, query: Any, params: Any = None) -> None:
        self.statements.append((query, params))


class InMemoryTaskStore:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.tasks: dict[uuid.UUID, TaskRecord] = {}
        self.runs: dict[tuple[uuid.UUID, Stage], RunRecord] = {}
        self.events: list[Event] = []
        self.dead_letters: dict[str, dict[str, Any]] = {}
        self.persisted = RecordingConnection()
        self.unreachable = False
        """A database outage: claims raise and `reachable` says False until it is cleared."""

    # ------------------------------------------------------------------ test helpers

    def add_task(self, *, stage: Stage = "moderate", status: TaskStatus = TaskStatus.UPLOAD_COMPLETE) -> uuid.UUID:
        task_id = uuid.uuid4()
        self.tasks[task_id] = TaskRecord(status, stage)
        self.events.append(Event(task_id, stage, "queued", 1))
        return task_id

    def kinds(self, task_id: uuid.UUID) -> list[str]:
        return [e.kind for e in self.events if e.task_id == task_id]

    # ------------------------------------------------------------------ TaskStore

    def _event(self, task_id: uuid.UUID, stage: Stage | None, kind: str, attempt: int, **kw: Any) -> None:
        self.events.append(Event(task_id, stage, kind, attempt, **kw))

    def _live(self, run: RunRecord, stale_after_s: float) -> bool:
        return run.state == "running" and run.heartbeat_at >= self.clock() - stale_after_s

    async def claim(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        *,
        message_id: str,
        stale_after_s: float,
        receive_count: int,
    ) -> Claim:
        if self.unreachable:
            raise ConnectionError("the task store is unreachable")
        task = self.tasks.get(task_id)
        if task is None:
            return Claim(ClaimResult.NOT_RUNNABLE, reason="task no longer exists")
        run = self.runs.get((task_id, stage))
        takeable = (
            run is None or run.state == "retrying" or (run.state == "running" and not self._live(run, stale_after_s))
        )
        if task.status in TERMINAL_STATUSES or not takeable:
            assert run is not None or task.status in TERMINAL_STATUSES
            if run is not None and run.state == "completed":
                pending = None if run.handed_off else run.next_message
                return Claim(ClaimResult.ALREADY_COMPLETED, attempt=run.attempt, pending_next_message=pending)
            if run is None or run.state == "failed" or task.status in TERMINAL_STATUSES:
                return Claim(ClaimResult.NOT_RUNNABLE, reason=f"task is {task.status}")
            return Claim(ClaimResult.HELD_ELSEWHERE, attempt=run.attempt, holder_message_id=run.claim_message_id)
        attempt = 1 if run is None else run.attempt + 1
        self.runs[(task_id, stage)] = RunRecord("running", attempt, claim_token, message_id, self.clock())
        if task.status in (TaskStatus.PENDING, TaskStatus.UPLOAD_COMPLETE, TaskStatus.PROCESSING):
            task.status, task.current_stage = TaskStatus.PROCESSING, stage
        self._event(task_id, stage, "started", attempt, detail={"receive_count": receive_count})
        return Claim(ClaimResult.CLAIMED, attempt=attempt)

    def _held(self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID) -> RunRecord | None:
        run = self.runs.get((task_id, stage))
        return run if run is not None and run.claim_token == claim_token and run.state == "running" else None

    async def heartbeat(self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID) -> bool:
        run = self._held(task_id, stage, claim_token)
        if run is not None:
            run.heartbeat_at = self.clock()
        return run is not None

    async def record_progress(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        *,
        attempt: int,
        fraction: float,
        detail: dict[str, Any],
    ) -> bool:
        if self._held(task_id, stage, claim_token) is None:
            return False
        self._event(task_id, stage, "progress", attempt, progress=fraction, detail=detail)
        return True

    async def complete(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        outcome: StageOutcome,
        *,
        detail: dict[str, Any],
    ) -> bool:
        run = self._held(task_id, stage, claim_token)
        task = self.tasks[task_id]
        if run is None or (outcome.final_status is not None and task.status in TERMINAL_STATUSES):
            return False
        if outcome.persist is not None:
            await outcome.persist(self.persisted)  # type: ignore[arg-type]  # a recorder stands in for psycopg
        run.state, run.next_message = "completed", outcome.next_message_json()
        self._event(task_id, stage, "completed", run.attempt, progress=1.0, detail=detail)
        if outcome.final_status is None:
            if task.status is TaskStatus.PROCESSING:
                task.current_stage = next_stage(stage)
        else:
            if outcome.rejection is not None:
                self._event(task_id, stage, "rejected", run.attempt, detail={**detail, **outcome.rejection.as_detail()})
                task.error_code, task.error_message = outcome.rejection.code, outcome.rejection.reason
            task.status = outcome.final_status
        return True

    async def mark_handed_off(self, task_id: uuid.UUID, stage: Stage) -> None:
        self.runs[(task_id, stage)].handed_off = True

    async def task_exists(self, task_id: uuid.UUID) -> bool:
        return task_id in self.tasks

    async def reachable(self) -> bool:
        return not self.unreachable

    async def retry(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        *,
        code: str,
        message: str,
        delay_s: float,
        receive_count: int,
    ) -> bool:
        run = self._held(task_id, stage, claim_token)
        if run is None:
            return False
        run.state = "retrying"
        detail = {"code": code, "message": message, "retry_in_s": delay_s, "receive_count": receive_count}
        self._event(task_id, stage, "retried", run.attempt, detail=detail)
        return True

    def _finish_failed(self, task_id: uuid.UUID, stage: Stage, attempt: int, code: str, message: str) -> bool:
        task = self.tasks[task_id]
        if task.status in TERMINAL_STATUSES:
            return False
        task.status, task.error_code, task.error_message = TaskStatus.FAILED, code, message
        self._event(task_id, stage, "failed", attempt, detail={"code": code, "message": message})
        return True

    async def fail_claimed(
        self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID, *, code: str, message: str
    ) -> bool:
        run = self._held(task_id, stage, claim_token)
        if run is None or self.tasks[task_id].status in TERMINAL_STATUSES:
            return False
        run.state = "failed"
        return self._finish_failed(task_id, stage, run.attempt, code, message)

    async def fail_abandoned(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        *,
        by: AbandonedBy,
        code: str,
        message: str,
        stale_after_s: float,
    ) -> bool:
        task = self.tasks.get(task_id)
        if task is None or task.status in TERMINAL_STATUSES:
            return False
        run = self.runs.get((task_id, stage))
        dead_letter = by is AbandonedBy.DEAD_LETTER
        if run is None:
            if not (dead_letter and task.current_stage == stage):
                return False
            run = self.runs[(task_id, stage)] = RunRecord("failed", 0, uuid.uuid4(), None, self.clock())
        elif (run.state == "running" and not self._live(run, stale_after_s)) or (
            run.state == "retrying" and dead_letter
        ):
            run.state = "failed"
        else:
            return False
        return self._finish_failed(task_id, stage, max(run.attempt, 1), code, message)

    async def record_dead_letter(
        self, message_id: str, stage: Stage, task_id: uuid.UUID | None, *, outcome: str, reason: str, body: str
    ) -> bool:
        if message_id in self.dead_letters:
            return False
        self.dead_letters[message_id] = {"stage": stage, "task_id": task_id, "outcome": outcome, "reason": reason}
        return True
