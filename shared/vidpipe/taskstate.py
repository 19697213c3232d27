"""Task and stage transitions in Postgres: the claim, completion, retry and failure of a stage.

Each function is one transaction with its event, so `task_events` always tells the same story as `tasks` and
`stage_runs`. The consumer loop is the only caller on the worker side.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import STAGES, Stage
from vidpipe.stage import TERMINAL_STATUSES, TaskStatus


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"  # this delivery owns the stage now
    ALREADY_COMPLETED = "already_completed"  # duplicate of finished work: hand off if needed, then delete
    HELD_ELSEWHERE = "held_elsewhere"  # another delivery holds a live claim: leave this one alone
    NOT_RUNNABLE = "not_runnable"  # task gone, finished, or this stage failed: delete the delivery


@dataclass(frozen=True)
class Claim:
    result: ClaimResult
    attempt: int = 0
    pending_next_message: Any = None  # outbox entry of a completed stage that was never handed off
    reason: str = ""


def next_stage(stage: Stage) -> Stage | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


async def insert_event(
    conn: AsyncConnection[Any],
    task_id: uuid.UUID,
    stage: Stage | None,
    kind: str,
    *,
    attempt: int = 1,
    progress: float | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        queries.insert_event,
        {
            "task_id": task_id,
            "stage": stage,
            "kind": kind,
            "attempt": attempt,
            "progress": progress,
            "detail": Jsonb(detail or {}),
        },
    )


async def claim_stage(
    pool: AsyncConnectionPool[Any],
    task_id: uuid.UUID,
    stage: Stage,
    claim_token: uuid.UUID,
    *,
    stale_after_s: float,
    receive_count: int,
) -> Claim:
    async with pool.connection() as conn, conn.transaction():
        task = await (await conn.execute(queries.lock_task, {"task_id": task_id})).fetchone()
        if task is None:
            return Claim(ClaimResult.NOT_RUNNABLE, reason="task no longer exists")
        row = None
        if TaskStatus(task["status"]) not in TERMINAL_STATUSES:
            row = await (
                await conn.execute(
                    queries.claim_stage,
                    {
                        "task_id": task_id,
                        "stage": stage,
                        "claim_token": claim_token,
                        "stale_after_s": stale_after_s,
                    },
                )
            ).fetchone()
        if row is None:
            run = await (await conn.execute(queries.get_stage_run, {"task_id": task_id, "stage": stage})).fetchone()
            if run is not None and run["state"] == "completed":
                pending = run["next_message"] if run["handed_off_at"] is None else None
                return Claim(ClaimResult.ALREADY_COMPLETED, attempt=run["attempt"], pending_next_message=pending)
            if run is None or run["state"] == "failed" or TaskStatus(task["status"]) in TERMINAL_STATUSES:
                return Claim(ClaimResult.NOT_RUNNABLE, reason=f"task is {task['status']}")
            return Claim(ClaimResult.HELD_ELSEWHERE, attempt=run["attempt"])
        attempt = row["attempt"]
        await conn.execute(queries.mark_task_processing, {"task_id": task_id, "stage": stage})
        await insert_event(conn, task_id, stage, "started", attempt=attempt, detail={"receive_count": receive_count})
        return Claim(ClaimResult.CLAIMED, attempt=attempt)


async def heartbeat(pool: AsyncConnectionPool[Any], task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID) -> bool:
    """Refresh the claim; False means another delivery has taken it over."""
    async with pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            queries.heartbeat_stage, {"task_id": task_id, "stage": stage, "claim_token": claim_token}
        )
        return await cursor.fetchone() is not None


async def record_progress(
    pool: AsyncConnectionPool[Any],
    task_id: uuid.UUID,
    stage: Stage,
    attempt: int,
    fraction: float,
    detail: dict[str, Any],
) -> None:
    async with pool.connection() as conn, conn.transaction():
        await insert_event(conn, task_id, stage, "progress", attempt=attempt, progress=fraction, detail=detail)


async def complete_stage(
    conn: AsyncConnection[Any],
    task_id: uuid.UUID,
    stage: Stage,
    claim_token: uuid.UUID,
    *,
    next_message_json: Any,
    final_status: TaskStatus | None,
    detail: dict[str, Any],
) -> bool:
    """Inside the caller's transaction: mark the stage done and move the task on. False: claim lost."""
    row = await (
        await conn.execute(
            queries.complete_stage,
            {
                "task_id": task_id,
                "stage": stage,
                "claim_token": claim_token,
                "next_message": Jsonb(next_message_json) if next_message_json is not None else None,
            },
        )
    ).fetchone()
    if row is None:
        return False
    attempt = row["attempt"]
    await insert_event(conn, task_id, stage, "completed", attempt=attempt, progress=1.0, detail=detail)
    if final_status is None:
        await conn.execute(queries.advance_task, {"task_id": task_id, "next_stage": next_stage(stage)})
    else:
        if final_status is TaskStatus.REJECTED:
            await insert_event(conn, task_id, stage, "rejected", attempt=attempt, detail=detail)
        await conn.execute(
            queries.finish_task,
            {"task_id": task_id, "status": final_status.value, "error_code": None, "error_message": None}
            if final_status is TaskStatus.COMPLETED
            else {
                "task_id": task_id,
                "status": final_status.value,
                "error_code": detail.get("code", "rejected"),
                "error_message": detail.get("reason", "rejected by moderation"),
            },
        )
    return True


async def mark_handed_off(pool: AsyncConnectionPool[Any], task_id: uuid.UUID, stage: Stage) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(queries.mark_handed_off, {"task_id": task_id, "stage": stage})


async def record_retry(
    pool: AsyncConnectionPool[Any],
    task_id: uuid.UUID,
    stage: Stage,
    claim_token: uuid.UUID,
    *,
    code: str,
    message: str,
    delay_s: float,
    receive_count: int,
) -> None:
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(queries.retry_stage, {"task_id": task_id, "stage": stage, "claim_token": claim_token})
        ).fetchone()
        attempt = row["attempt"] if row else 0
        await insert_event(
            conn,
            task_id,
            stage,
            "retried",
            attempt=attempt,
            detail={"code": code, "message": message, "retry_in_s": delay_s, "receive_count": receive_count},
        )


async def fail_task(
    pool: AsyncConnectionPool[Any],
    task_id: uuid.UUID,
    stage: Stage | None,
    *,
    code: str,
    message: str,
    attempt: int = 1,
) -> bool:
    """Fail the stage and the task with a readable reason; False if the task had already ended."""
    async with pool.connection() as conn, conn.transaction():
        if stage is not None:
            await conn.execute(queries.fail_stage, {"task_id": task_id, "stage": stage})
        finished = await (
            await conn.execute(
                queries.finish_task,
                {
                    "task_id": task_id,
                    "status": TaskStatus.FAILED.value,
                    "error_code": code,
                    "error_message": message,
                },
            )
        ).fetchone()
        if finished is None:
            return False
        await insert_event(conn, task_id, stage, "failed", attempt=attempt, detail={"code": code, "message": message})
        return True
