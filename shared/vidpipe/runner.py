"""The stage runner: one delivery from claim to hand-off, written against `StageQueues` and `TaskStore`.

Order for one delivery: decode → claim `(task, stage)` → run the handler (the delivery kept hidden and the
claim fresh by a heartbeat) → commit results + completion event + outbox → send the next message → delete
the delivery. Failures:

- a body that cannot be decoded (poison) is copied to the DLQ and deleted; it fails its task only when that
  stage was abandoned (no live or completed claim), so a stray body can never fail a healthy task;
- `PermanentError` fails the stage and the task at once (claim holder only) and deletes the delivery;
- anything else is retried after the policy's back-off; on the last delivery the queue allows, the task is
  failed with the reason and SQS moves the message to the DLQ;
- a second message for a stage whose claim is live is dropped; a redelivery of the holder's own message is
  kept hidden, since deleting it would delete the holder's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import structlog

from vidpipe.deliveries import Delivery, StageQueues, heartbeat
from vidpipe.errors import PermanentError, RetryableError, StageError
from vidpipe.messages import StageMessage, decode_message, salvage_task_id, stage_of
from vidpipe.retry import RetryPolicy
from vidpipe.settings import Settings, Stage
from vidpipe.stage import Handler, StageContext, StageOutcome
from vidpipe.storage import Storage
from vidpipe.taskstore import AbandonedBy, ClaimResult, TaskStore

log = structlog.get_logger("vidpipe.runner")

JobHook = Callable[[], Awaitable[None]]


class StageRunner:
    def __init__(
        self,
        *,
        stage: Stage,
        handler: Handler[Any],
        settings: Settings,
        queues: StageQueues,
        store: TaskStore,
        retry_policy: RetryPolicy,
        max_concurrency: int,
        db: Any,
        storage: Storage | None,
        on_job_start: list[JobHook] | None = None,
    ) -> None:
        self.stage = stage
        self.handler = handler
        self.settings = settings
        self.queues = queues
        self.store = store
        self.retry_policy = retry_policy
        self.max_concurrency = max_concurrency
        self.db = db
        self.storage = storage
        self.on_job_start = on_job_start or []
        self._slots = asyncio.Semaphore(max_concurrency)
        cfg = settings.worker
        self._visibility_s = cfg.visibility_timeout_s
        self._heartbeat_every = cfg.heartbeat_interval_s or cfg.visibility_timeout_s / 3

    async def process(self, delivery: Delivery) -> None:
        with structlog.contextvars.bound_contextvars(stage=self.stage, sqs_message_id=delivery.message_id):
            try:
                message = decode_message(delivery.body)
            except (msgspec.ValidationError, msgspec.DecodeError) as error:
                await self._dead_letter_poison(delivery, f"undecodable message: {error}")
                return
            if stage_of(message) != self.stage:
                await self._dead_letter_poison(delivery, f"a {stage_of(message)} message on the {self.stage} queue")
                return
            with structlog.contextvars.bound_contextvars(task_id=str(message.task_id), trace_id=message.trace_id):
                async with self._slots:  # the engine's own limit, whatever the worker's concurrency
                    await self._run(message, delivery)

    async def _run(self, message: StageMessage, delivery: Delivery) -> None:
        claim_token = uuid.uuid4()
        claim = await self.store.claim(
            message.task_id,
            self.stage,
            claim_token,
            message_id=delivery.message_id,
            stale_after_s=self._visibility_s,
            receive_count=delivery.receive_count,
        )
        if claim.result is ClaimResult.ALREADY_COMPLETED:
            log.info("duplicate_delivery", pending_handoff=claim.pending_next_message is not None)
            if claim.pending_next_message is not None:
                await self._hand_off(message, decode_message(msgspec.json.encode(claim.pending_next_message)))
            await self.queues.delete(delivery)
            return
        if claim.result is ClaimResult.NOT_RUNNABLE:
            log.info("delivery_dropped", reason=claim.reason)
            await self.queues.delete(delivery)
            return
        if claim.result is ClaimResult.HELD_ELSEWHERE:
            if claim.holder_message_id != delivery.message_id:
                # Another message for work that is running: the holder's own message stays in flight and
                # comes back if that worker dies, so this copy is not needed. Hiding it instead would spend
                # one receive per look until the redrive policy dead-letters it under a live task.
                log.info("duplicate_of_live_claim_dropped", holder_message_id=claim.holder_message_id)
                await self.queues.delete(delivery)
            else:
                # The holder's own message came back (its visibility lapsed): this receipt handle is now the
                # live one, so keep the message hidden; the claim goes stale and is taken over if the
                # holder died.
                log.info("claim_held_elsewhere")
                await self.queues.set_visibility(delivery, self._visibility_s)
            return
        with structlog.contextvars.bound_contextvars(attempt=claim.attempt):
            await self._run_claimed(message, delivery, claim_token, claim.attempt)

    async def _run_claimed(
        self, message: StageMessage, delivery: Delivery, claim_token: uuid.UUID, attempt: int
    ) -> None:
        log.info("stage_started", receive_count=delivery.receive_count)
        for hook in self.on_job_start:  # e.g. scale-in protection, before any work
            await hook()
        started = time.monotonic()
        workdir: Path | None = None
        ctx: StageContext | None = None
        try:
            workdir = self._make_workdir()
            ctx = self._context(message, claim_token, attempt, delivery, workdir)
            async with heartbeat(
                self.queues,
                delivery,
                every_s=self._heartbeat_every,
                visibility_s=self._visibility_s,
                refresh_claim=lambda: self.store.heartbeat(message.task_id, self.stage, claim_token),
            ):
                outcome = await self.handler(message, ctx)
                await ctx.settle_progress()
        except asyncio.CancelledError:
            await self._release_claim(message, delivery, claim_token)
            raise
        except PermanentError as error:
            await self._fail(message, delivery, claim_token, error.code, error.message)
            return
        except Exception as error:
            await self._retry_or_give_up(message, delivery, claim_token, error)
            return
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        await self._commit_and_hand_off(message, delivery, claim_token, outcome, time.monotonic() - started)

    def _make_workdir(self) -> Path:
        try:
            return Path(tempfile.mkdtemp(prefix=f"vidpipe-{self.stage}-", dir=self.settings.worker.workdir))
        except OSError as error:
            raise RetryableError(
                "workdir_unavailable", f"the worker could not create its scratch directory: {error}"
            ) from error

    def _context(
        self, message: StageMessage, claim_token: uuid.UUID, attempt: int, delivery: Delivery, workdir: Path
    ) -> StageContext:
        async def record(fraction: float, detail: dict[str, Any]) -> bool:
            return await self.store.record_progress(
                message.task_id, self.stage, claim_token, attempt=attempt, fraction=fraction, detail=detail
            )

        return StageContext(
            stage=self.stage,
            settings=self.settings,
            db=self.db,
            storage=self.storage,  # type: ignore[arg-type]  # None only in the unit tier, whose handlers use none
            workdir=workdir,
            attempt=attempt,
            receive_count=delivery.receive_count,
            record_progress=record,
        )

    async def _commit_and_hand_off(
        self,
        message: StageMessage,
        delivery: Delivery,
        claim_token: uuid.UUID,
        outcome: StageOutcome,
        took_s: float,
    ) -> None:
        detail = {**outcome.detail, "seconds": round(took_s, 3)}
        if not await self.store.complete(message.task_id, self.stage, claim_token, outcome, detail=detail):
            # Our claim went stale and another delivery took it over (or the task ended): its results win.
            log.warning("claim_lost_results_discarded")
            await self._remove_objects_of_a_deleted_task(message, outcome)
            return
        log.info("stage_completed", seconds=round(took_s, 3), final_status=outcome.final_status)
        if outcome.next_message is not None:
            await self._hand_off(message, outcome.next_message)
        await self.queues.delete(delivery)

    async def _remove_objects_of_a_deleted_task(self, message: StageMessage, outcome: StageOutcome) -> None:
        """The task is gone (its media deleted while this stage ran): what the handler stored would stay behind
        with nothing pointing to it. Only then: a stale claim's keys are the winning delivery's keys too."""
        if not outcome.stored_objects or self.storage is None or await self.store.task_exists(message.task_id):
            return
        try:
            for key in outcome.stored_objects:
                await self.storage.delete_object(key)
        except Exception as error:  # storage trouble is not the store's: the delivery is done either way
            log.warning("deleted_task_objects_left", objects=list(outcome.stored_objects), error=repr(error))
            return
        log.info("deleted_task_objects_removed", objects=len(outcome.stored_objects))

    async def _hand_off(self, message: StageMessage, next_message: StageMessage) -> None:
        await self.queues.send(next_message)
        await self.store.mark_handed_off(message.task_id, self.stage)
        log.info("handed_off", next_stage=stage_of(next_message))

    async def _fail(
        self, message: StageMessage, delivery: Delivery, claim_token: uuid.UUID, code: str, reason: str
    ) -> None:
        log.warning("stage_failed", code=code, reason=reason)
        if not await self.store.fail_claimed(message.task_id, self.stage, claim_token, code=code, message=reason):
            log.warning("failure_not_recorded_claim_lost", code=code)
        await self.queues.delete(delivery)

    async def _retry_or_give_up(
        self, message: StageMessage, delivery: Delivery, claim_token: uuid.UUID, error: Exception
    ) -> None:
        code = error.code if isinstance(error, StageError) else type(error).__name__
        reason = error.message if isinstance(error, StageError) else str(error) or repr(error)
        if self.retry_policy.gives_up(delivery.receive_count):
            # Last delivery the redrive policy allows: say so in the task, then let SQS move it to the DLQ.
            log.error("retries_exhausted", code=code, reason=reason, receive_count=delivery.receive_count)
            await self.store.fail_claimed(
                message.task_id,
                self.stage,
                claim_token,
                code="retries_exhausted",
                message=f"{self.stage} failed {delivery.receive_count} times; last error ({code}): {reason}",
            )
            await self.queues.set_visibility(delivery, 0)
            return
        delay = self.retry_policy.delay_s(delivery.receive_count)
        log.warning("stage_retrying", code=code, reason=reason, retry_in_s=delay, exc_info=error)
        await self.store.retry(
            message.task_id,
            self.stage,
            claim_token,
            code=code,
            message=reason,
            delay_s=delay,
            receive_count=delivery.receive_count,
        )
        await self.queues.set_visibility(delivery, delay)

    async def _release_claim(self, message: StageMessage, delivery: Delivery, claim_token: uuid.UUID) -> None:
        """Shutdown cut a handler short: make the stage claimable again and the delivery visible now."""
        log.warning("handler_cancelled_released")
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self.store.retry(
                    message.task_id,
                    self.stage,
                    claim_token,
                    code="worker_shutdown",
                    message="the worker stopped before the stage finished",
                    delay_s=0,
                    receive_count=delivery.receive_count,
                )
            )
            await asyncio.shield(self.queues.set_visibility(delivery, 0))

    async def _dead_letter_poison(self, delivery: Delivery, reason: str) -> None:
        """Nothing can ever process this body: keep it in the DLQ for a person; fail its task only if abandoned."""
        log.error("poison_message", reason=reason)
        await self.queues.dead_letter(delivery.body, reason)
        task_id = salvage_task_id(delivery.body)
        if task_id is not None and await self.store.fail_abandoned(
            task_id,
            self.stage,
            by=AbandonedBy.UNREADABLE,
            code="poison_message",
            message=f"the {self.stage} stage received an unreadable message and no worker was still on it",
            stale_after_s=self._visibility_s,
        ):
            log.error("poison_failed_abandoned_task", task_id=str(task_id))
        await self.queues.delete(delivery)
