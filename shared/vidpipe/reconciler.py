"""Rebuild what the queues lost from Postgres: every unfinished task gets its current stage's message again.

SQS holds the only copy of a task's next step between two stages. If that copy is lost (the embedded SQS
server keeps queues in memory and restarts empty; on AWS a message can be deleted by hand or purged), the
task would wait for ever. Postgres knows enough to send it again:

- the first stage's message is rebuilt the way the gateway built it (the pinned copy of the upload, the
  task's options; for a re-summarise task, the media's current transcript). A task whose start-processing
  died before the upload was pinned has no such copy: it fails with a reason, and the user starts it again;
- a later stage's message is the previous stage's outbox (`stage_runs.next_message`), the exact message the
  worker committed with its results.

Two modes. After the embedded stack (re)starts, no worker is alive and the queues are empty, so every
unfinished task is re-sent at once and claims still marked running are released. As a periodic sweeper
(`vidpipe sweep`, in `vidpipe dev` and in production), a task counts as stuck only after no sign of life for
`stuck_after_s` (N × the visibility timeout, at least the longest retry back-off plus one visibility
timeout) and only while its stage's queue has nothing waiting: a busy queue may still hold its message.

Re-sending is idempotent: the consumer's claim drops a message for a stage that is completed or held by a
live claim, so a message that was not lost after all costs one receive, never a second result.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from psycopg.types.json import Jsonb

from vidpipe.db.queries import queries
from vidpipe.messages import JobOptions, ModerateRequest, StageMessage, SummarizeRequest, decode_message, stage_of
from vidpipe.queues import QueueUrls, send_stage_message
from vidpipe.settings import STAGES, Settings, Stage

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("vidpipe.reconciler")


@dataclass
class SweepReport:
    resent: list[tuple[uuid.UUID, Stage]] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    released_claims: int = 0
    busy_stages: list[Stage] = field(default_factory=list)
    skipped_locked: bool = False

    def summary(self) -> str:
        if self.skipped_locked:
            return "another sweeper is running; nothing done"
        parts = [f"{len(self.resent)} message(s) re-sent"]
        if self.released_claims:
            parts.append(f"{self.released_claims} claim(s) released")
        if self.failed:
            parts.append(f"{len(self.failed)} task(s) failed (input gone)")
        if self.busy_stages:
            parts.append(f"skipped busy queue(s): {', '.join(self.busy_stages)}")
        return "; ".join(parts)


def stuck_after_s(settings: Settings) -> float:
    """How long a task may show no sign of life before the sweeper re-sends its message."""
    worker = settings.worker
    return max(
        settings.reconciler.stuck_after_visibilities * worker.visibility_timeout_s,
        worker.retry_max_delay_s + worker.visibility_timeout_s,
    )


def rebuild_message(row: dict[str, Any]) -> StageMessage | None:
    """The message the task waits for, from its row in `sweep_unfinished_tasks`; None if it cannot exist."""
    stage: Stage = row["stage"]
    if stage != row["first_stage"]:
        if row["outbox"] is None:
            return None
        message = decode_message(msgspec.json.encode(row["outbox"]))
        return message if stage_of(message) == stage else None
    options = msgspec.convert(row["options"] or {}, JobOptions)
    common = {"task_id": row["task_id"], "media_id": row["media_id"], "trace_id": row["trace_id"]}
    if stage == "moderate" and row["source_key"] is not None:
        return ModerateRequest(**common, video_key=row["source_key"], options=options)
    if stage == "summarize" and row["transcript_id"] is not None:
        return SummarizeRequest(**common, transcript_id=row["transcript_id"], options=options)
    return None


async def _queue_has_waiting(sqs: SQSClient, url: str) -> bool:
    attributes = (
        await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
        )
    )["Attributes"]
    return any(int(attributes.get(name, "0")) > 0 for name in attributes)


async def reconcile(
    pool: AsyncConnectionPool[Any],
    sqs: SQSClient,
    queues: QueueUrls,
    *,
    idle_s: float,
    after_restart: bool = False,
    limit: int = 1000,
) -> SweepReport:
    """One pass; see the module docstring for the two modes."""
    report = SweepReport()
    async with pool.connection() as lock_conn, lock_conn.transaction():
        locked = await (await lock_conn.execute(queries.sweep_try_lock)).fetchone()
        if not locked or not locked["locked"]:
            report.skipped_locked = True
            return report
        await _reconcile_locked(pool, sqs, queues, report, idle_s=idle_s, after_restart=after_restart, limit=limit)
    if report.resent or report.failed or report.released_claims:
        log.info(
            "reconciled",
            resent=len(report.resent),
            failed=len(report.failed),
            released_claims=report.released_claims,
            after_restart=after_restart,
        )
    return report


async def _reconcile_locked(
    pool: AsyncConnectionPool[Any],
    sqs: SQSClient,
    queues: QueueUrls,
    report: SweepReport,
    *,
    idle_s: float,
    after_restart: bool,
    limit: int,
) -> None:
    if after_restart:
        async with pool.connection() as conn, conn.transaction():
            released = await (await conn.execute(queries.sweep_release_claims)).fetchall()
            for run in released:
                await conn.execute(
                    queries.sweep_record_event,
                    {
                        "task_id": run["task_id"],
                        "stage": run["stage"],
                        "kind": "retried",
                        "attempt": run["attempt"],
                        "detail": Jsonb(
                            {"code": "stack_restarted", "message": "the stack restarted while this stage ran"}
                        ),
                    },
                )
        report.released_claims = len(released)
    else:
        for stage in STAGES:
            if await _queue_has_waiting(sqs, queues.main[stage]):
                report.busy_stages.append(stage)
    async with pool.connection() as conn:
        rows = await (await conn.execute(queries.sweep_unfinished_tasks, {"idle_s": idle_s, "limit": limit})).fetchall()
    for row in rows:
        if row["stage"] in report.busy_stages:
            continue
        try:
            message = rebuild_message(row)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            log.error("outbox_unreadable", task_id=str(row["task_id"]), error=str(error))
            message = None
        if message is None:
            await _fail(pool, row, report)
            continue
        await send_stage_message(sqs, queues, message)
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(queries.sweep_mark_queued, {"task_id": row["task_id"], "stage": row["stage"]})
            await conn.execute(
                queries.sweep_record_event,
                {
                    "task_id": row["task_id"],
                    "stage": row["stage"],
                    "kind": "queued",
                    "attempt": 1,
                    "detail": Jsonb({"requeued": True, "after_restart": after_restart}),
                },
            )
        report.resent.append((row["task_id"], row["stage"]))
        log.info("message_resent", task_id=str(row["task_id"]), stage=row["stage"], after_restart=after_restart)


async def _fail(pool: AsyncConnectionPool[Any], row: dict[str, Any], report: SweepReport) -> None:
    if row["stage"] == "moderate" and row["source_key"] is None:
        reason = "processing stopped before the upload was checked in; start processing again"
    else:
        reason = f"the {row['stage']} stage's input is gone (no message could be rebuilt after a lost message)"
    async with pool.connection() as conn, conn.transaction():
        failed = await (
            await conn.execute(
                queries.sweep_fail_task,
                {"task_id": row["task_id"], "error_code": "message_lost", "error_message": reason},
            )
        ).fetchone()
        if failed:
            await conn.execute(
                queries.sweep_record_event,
                {
                    "task_id": row["task_id"],
                    "stage": row["stage"],
                    "kind": "failed",
                    "attempt": 1,
                    "detail": Jsonb({"code": "message_lost", "message": reason}),
                },
            )
    if failed:
        report.failed.append(row["task_id"])
        log.error("task_unrecoverable", task_id=str(row["task_id"]), stage=row["stage"])


async def reconcile_once(
    settings: Settings, *, idle_s: float | None = None, after_restart: bool = False
) -> SweepReport:
    """Open what a pass needs, run it, close everything (the embedded stack and `vidpipe sweep --once`)."""
    from vidpipe.db.pool import open_pool
    from vidpipe.queues import open_sqs, resolve_queue_urls

    pool = await open_pool(settings.db, name="sweeper")
    try:
        async with open_sqs(settings.aws) as sqs:
            queues = await resolve_queue_urls(sqs, settings)
            return await reconcile(
                pool,
                sqs,
                queues,
                idle_s=stuck_after_s(settings) if idle_s is None else idle_s,
                after_restart=after_restart,
            )
    finally:
        await pool.close()


async def sweep_forever(
    settings: Settings, stop: asyncio.Event, *, every_s: float, idle_s: float | None = None
) -> None:
    """The production sweeper: one pass every `every_s` until `stop`; a failed pass is logged and retried."""
    from vidpipe.db.pool import open_pool
    from vidpipe.queues import open_sqs, resolve_queue_urls

    idle = stuck_after_s(settings) if idle_s is None else idle_s
    log.info("sweeper_started", every_s=every_s, stuck_after_s=idle)
    pool = await open_pool(settings.db, name="sweeper")
    try:
        async with open_sqs(settings.aws) as sqs:
            queues: QueueUrls | None = None
            while not stop.is_set():
                try:
                    queues = queues or await resolve_queue_urls(sqs, settings)
                    await reconcile(pool, sqs, queues, idle_s=idle)
                except Exception as error:  # Postgres or SQS away: try again next pass
                    queues = None
                    log.warning("sweep_failed", error=repr(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every_s)
    finally:
        await pool.close()
