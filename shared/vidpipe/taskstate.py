"""Task and stage transitions in Postgres: `PostgresTaskStore`, the real `TaskStore`.

Each method is one transaction holding one guarded statement (the guard is in the SQL of queries.sql) and
its event, so `task_events` always tells the same story as `tasks` and `stage_runs`: when the guard matches
nothing, nothing is written.
"""

from __future__ import annotations

import uuid
from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import Stage
from vidpipe.stage import TERMINAL_STATUSES, StageOutcome, TaskStatus
from vidpipe.taskstore import AbandonedBy, Claim, ClaimResult, next_stage

# How long `reachable` waits for a pooled connection before it answers "not now".
REACHABLE_TIMEOUT_S = 5.0


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


async def _finish_failed(
    conn: AsyncConnection[Any], task_id: uuid.UUID, stage: Stage | None, attempt: int, code: str, message: str
) -> bool:
    finished = await (
        await conn.execute(
            queries.finish_task,
            {"task_id": task_id, "status": TaskStatus.FAILED.value, "error_code": code, "error_message": message},
        )
    ).fetchone()
    if finished is None:
        return False
    await insert_event(conn, task_id, stage, "failed", attempt=attempt, detail={"code": code, "message": message})
    return True


class _GuardMissedError(Exception):
    """A guard matched nothing after an earlier statement of the same transaction wrote: undo it."""


class PostgresTaskStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def _matched(self, query: LiteralString, params: dict[str, Any]) -> bool:
        """Run one guarded statement in its own transaction; True if its guard matched (it returned a row)."""
        async with self.pool.connection() as conn, conn.transaction():
            return await (await conn.execute(query, params)).fetchone() is not None

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
        async with self.pool.connection() as conn, conn.transaction():
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
                            "message_id": message_id,
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
                return Claim(
                    ClaimResult.HELD_ELSEWHERE, attempt=run["attempt"], holder_message_id=run["claim_message_id"]
                )
            attempt = row["attempt"]
            await conn.execute(queries.mark_task_processing, {"task_id": task_id, "stage": stage})
            await insert_event(
                conn, task_id, stage, "started", attempt=attempt, detail={"receive_count": receive_count}
            )
            return Claim(ClaimResult.CLAIMED, attempt=attempt)

    async def heartbeat(self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID) -> bool:
        return await self._matched(
            queries.heartbeat_stage, {"task_id": task_id, "stage": stage, "claim_token": claim_token}
        )

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
        return await self._matched(
            queries.insert_progress_event,
            {
                "task_id": task_id,
                "stage": stage,
                "claim_token": claim_token,
                "attempt": attempt,
                "progress": fraction,
                "detail": Jsonb(detail),
            },
        )

    async def complete(
        self,
        task_id: uuid.UUID,
        stage: Stage,
        claim_token: uuid.UUID,
        outcome: StageOutcome,
        *,
        detail: dict[str, Any],
    ) -> bool:
        next_json = outcome.next_message_json()
        try:
            async with self.pool.connection() as conn, conn.transaction():
                # The guard first: a lost claim writes nothing, not even the handler's results.
                row = await (
                    await conn.execute(
                        queries.complete_stage,
                        {
                            "task_id": task_id,
                            "stage": stage,
                            "claim_token": claim_token,
                            "next_message": Jsonb(next_json) if next_json is not None else None,
                        },
                    )
                ).fetchone()
                if row is None:
                    return False
                if outcome.persist is not None:
                    await outcome.persist(conn)
                attempt = row["attempt"]
                await insert_event(conn, task_id, stage, "completed", attempt=attempt, progress=1.0, detail=detail)
                await self._move_task_on(conn, task_id, stage, attempt, outcome, detail)
                return True
        except _GuardMissedError:
            return False

    @staticmethod
    async def _move_task_on(
        conn: AsyncConnection[Any],
        task_id: uuid.UUID,
        stage: Stage,
        attempt: int,
        outcome: StageOutcome,
        detail: dict[str, Any],
    ) -> None:
        if outcome.final_status is None:
            await conn.execute(queries.advance_task, {"task_id": task_id, "next_stage": next_stage(stage)})
            return
        rejection = outcome.rejection
        if rejection is not None:
            await insert_event(
                conn, task_id, stage, "rejected", attempt=attempt, detail={**detail, **rejection.as_detail()}
            )
        finished = await (
            await conn.execute(
                queries.finish_task,
                {
                    "task_id": task_id,
                    "status": outcome.final_status.value,
                    "error_code": rejection.code if rejection else None,
                    "error_message": rejection.reason if rejection else None,
                },
            )
        ).fetchone()
        if finished is None:
            raise _GuardMissedError  # the task ended meanwhile (deleted media, an operator): keep it as it is

    async def mark_handed_off(self, task_id: uuid.UUID, stage: Stage) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(queries.mark_handed_off, {"task_id": task_id, "stage": stage})

    async def task_exists(self, task_id: uuid.UUID) -> bool:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(queries.task_exists, {"task_id": task_id})).fetchone()
        return bool(row and row["present"])

    async def reachable(self) -> bool:
        try:
            async with self.pool.connection(timeout=REACHABLE_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
        except Exception:  # any failure means "not now"; the caller asks again later
            return False
        return True

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
        async with self.pool.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(
                    queries.retry_stage, {"task_id": task_id, "stage": stage, "claim_token": claim_token}
                )
            ).fetchone()
            if row is None:
                return False
            await insert_event(
                conn,
                task_id,
                stage,
                "retried",
                attempt=row["attempt"],
                detail={"code": code, "message": message, "retry_in_s": delay_s, "receive_count": receive_count},
            )
            return True

    async def fail_claimed(
        self, task_id: uuid.UUID, stage: Stage, claim_token: uuid.UUID, *, code: str, message: str
    ) -> bool:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                row = await (
                    await conn.execute(
                        queries.fail_claimed_stage, {"task_id": task_id, "stage": stage, "claim_token": claim_token}
                    )
                ).fetchone()
                if row is None:
                    return False
                if not await _finish_failed(conn, task_id, stage, row["attempt"], code, message):
                    raise _GuardMissedError
                return True
        except _GuardMissedError:
            return False

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
        dead_letter = by is AbandonedBy.DEAD_LETTER
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(queries.lock_task, {"task_id": task_id})
                row = await (
                    await conn.execute(
                        queries.fail_abandoned_stage,
                        {
                            "task_id": task_id,
                            "stage": stage,
                            "stale_after_s": stale_after_s,
                            "retrying_is_abandoned": dead_letter,
                        },
                    )
                ).fetchone()
                if row is None and dead_letter:
                    row = await (
                        await conn.execute(queries.fail_unstarted_stage, {"task_id": task_id, "stage": stage})
                    ).fetchone()
                if row is None:
                    return False
                if not await _finish_failed(conn, task_id, stage, max(row["attempt"], 1), code, message):
                    raise _GuardMissedError
                return True
        except _GuardMissedError:
            return False

    async def record_dead_letter(
        self, message_id: str, stage: Stage, task_id: uuid.UUID | None, *, outcome: str, reason: str, body: str
    ) -> bool:
        return await self._matched(
            queries.record_dead_letter,
            {
                "message_id": message_id,
                "stage": stage,
                "task_id": task_id,
                "outcome": outcome,
                "reason": reason,
                "body": body,
            },
        )
