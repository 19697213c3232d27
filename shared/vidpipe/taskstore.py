"""The task store: every transition of a task and its stages, behind one small protocol.

The stage runner decides *when* a transition happens; the store decides *whether* it may, where the data
lives. Each method is one guarded transition with its event, all or nothing:

- only the holder of a claim (its token) may heartbeat, report progress, complete, retry or fail a stage;
- a completed stage never becomes failed, and a finished task never changes again;
- a dead letter or an unreadable body fails a stage only when no live claim holds it and it never completed.

`vidpipe.taskstate.PostgresTaskStore` is the real one; `vidpipe.memory.InMemoryTaskStore` keeps the same rules
in memory for the fast unit tier.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from vidpipe.settings import STAGES, Stage
from vidpipe.stage import StageOutcome


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"  # this delivery owns the stage now
    ALREADY_COMPLETED = "already_completed"  # duplicate of finished work: hand off if needed, then delete
    HELD_ELSEWHERE = "held_elsewhere"  # another delivery holds a live claim
    NOT_RUNNABLE = "not_runnable"  # task gone, finished, or this stage failed: delete the delivery


@dataclass(frozen=True)
class Claim:
    result: ClaimResult
    attempt: int = 0
    pending_next_message: Any = None  # outbox entry of a completed stage that was never handed off
    holder_message_id: str | None = None  # with HELD_ELSEWHERE: the SQS message the live claim came from
    reason: str = ""


class AbandonedBy(enum.Enum):
    """Why a stage is being failed without its claim: the caller never held one."""

    DEAD_LETTER = "dead_letter"  # SQS gave up on the message; it will not come back
    UNREADABLE = "unreadable"  # a body that names the task but cannot be decoded


def next_stage(stage: Stage) -> Stage | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


class TaskStore(Protocol):
    async def claim(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        *,
        message_id: str,
        stale_after_s: float,
        receive_count: int,
    ) -> Claim: ...

    async def heartbeat(self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID) -> bool: ...

    async def record_progress(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        *,
        attempt: int,
        fraction: float,
        detail: dict[str, Any],
    ) -> bool: ...

    async def complete(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        outcome: StageOutcome,
        *,
        detail: dict[str, Any],
    ) -> bool:
        """Commit the outcome's results, the completion event and the outbox at once; False: claim lost."""
        ...

    async def mark_handed_off(self, task_id: uuid.UUID, stage: Stage) -> None: ...

    async def task_exists(self, task_id: uuid.UUID) -> bool:
        """False once the task is gone (its media was deleted)."""
        ...

    async def reachable(self) -> bool:
        """Whether the store answers right now (its database is up); never raises."""
        ...

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
    ) -> bool: ...

    async def fail_claimed(
        self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID, *, code: str, message: str
    ) -> bool:
        """Fail the stage and its task; only the claim holder can. False: claim lost or task finished."""
        ...

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
        """Fail a stage nobody holds (see the module docstring); False: left alone."""
        ...

    async def record_dead_letter(
        self, message_id: str, stage: Stage, task_id: uuid.UUID | None, *, outcome: str, reason: str, body: str
    ) -> bool:
        """Note a dead letter as handled; False if it was already noted."""
        ...
