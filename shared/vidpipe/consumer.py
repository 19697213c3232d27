"""The one SQS consumer loop every stage runs (STYLE conventions 1–5).

Receiving, heartbeats, deletion, retries and shutdown live here; a stage only supplies a handler.

Order for one delivery: claim the stage in Postgres → run the handler (visibility extended by a heartbeat) →
commit results + completion event (+ the next message in the outbox) → send the next message → delete the
delivery. Failures: `PermanentError` fails the task at once and deletes the delivery; anything else is
retryable: the delivery is hidden for an exponential back-off and comes back with a higher receive count; on
the last receive the queue allows, the task is failed with the reason and the delivery is left for the
redrive policy to move to the stage's DLQ. Undecodable (poison) bodies are copied to the DLQ and deleted.

Shutdown: `stop` is an event. The receiver stops polling, buffered (prefetched) deliveries are released with
visibility 0, in-flight handlers get `shutdown_grace_s` to finish; any still running are cancelled, their
claims released for the next worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from vidpipe import taskstate
from vidpipe.errors import PermanentError, StageError
from vidpipe.messages import StageMessage, decode_message, salvage_task_id, stage_of
from vidpipe.queues import QueueUrls, send_stage_message
from vidpipe.scaling import NoScaleInGuard, ScaleInGuard
from vidpipe.settings import Settings, Stage
from vidpipe.stage import Handler, StageContext, StageOutcome
from vidpipe.storage import Storage
from vidpipe.taskstate import ClaimResult

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = structlog.get_logger("vidpipe.consumer")


@dataclass(frozen=True)
class Delivery:
    """One received SQS message."""

    body: str
    receipt_handle: str
    message_id: str
    receive_count: int
    received_at: float


def backoff_delay(receive_count: int, base_s: float, max_s: float) -> int:
    """Exponential back-off with full jitter on the upper half; SQS wants whole seconds ≤ 12 h."""
    ceiling = min(max_s, base_s * 2 ** max(receive_count - 1, 0))
    return int(min(43200, max(0, round(random.uniform(ceiling / 2, ceiling)))))  # noqa: S311 (jitter)


class Consumer:
    def __init__(
        self,
        *,
        stage: Stage,
        handler: Handler[Any],
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        storage: Storage,
        sqs: SQSClient,
        queues: QueueUrls,
        scale_in_guard: ScaleInGuard | None = None,
    ) -> None:
        self.stage = stage
        self.handler = handler
        self.settings = settings
        self.pool = pool
        self.storage = storage
        self.sqs = sqs
        self.queues = queues
        self.queue_url = queues.main[stage]
        self.scale_in_guard = scale_in_guard or NoScaleInGuard()
        self._idle_since = time.monotonic()
        cfg = settings.worker
        self._heartbeat_every = cfg.heartbeat_interval_s or cfg.visibility_timeout_s / 3
        self._buffer: asyncio.Queue[Delivery] = asyncio.Queue()
        self._capacity = cfg.concurrency + cfg.prefetch
        self._in_flight = 0
        self._room = asyncio.Condition()
        self.processed = 0  # deliveries finished (any outcome); for benchmarks and tests

    # ------------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then drain as described in the module docstring."""
        cfg = self.settings.worker
        log.info("consumer_started", stage=self.stage, concurrency=cfg.concurrency, prefetch=cfg.prefetch)
        receiver = asyncio.create_task(self._receive_loop(stop), name=f"{self.stage}-receiver")
        idle_watch = asyncio.create_task(self._release_protection_when_idle(stop), name=f"{self.stage}-idle-watch")
        dead_watch = asyncio.create_task(self._fail_dead_lettered_tasks(stop), name=f"{self.stage}-dlq-watch")
        workers = [
            asyncio.create_task(self._work_loop(stop), name=f"{self.stage}-worker-{i}") for i in range(cfg.concurrency)
        ]
        await stop.wait()
        async with self._room:
            self._room.notify_all()  # a receiver waiting for room must not outlive the stop
        await receiver  # finishes its current long poll; what that poll brought is released below
        done, pending = await asyncio.wait(workers, timeout=cfg.shutdown_grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                log.error("worker_task_crashed", error=repr(task.exception()))
        await self._release_buffered()
        for side_task in (idle_watch, dead_watch):
            side_task.cancel()
        await asyncio.gather(idle_watch, dead_watch, return_exceptions=True)
        await self.scale_in_guard.set_protected(False)
        log.info("consumer_stopped", stage=self.stage, processed=self.processed, cancelled=len(pending))

    async def _receive_loop(self, stop: asyncio.Event) -> None:
        cfg = self.settings.worker
        while not stop.is_set():
            if cfg.heartbeat_file:
                Path(cfg.heartbeat_file).touch()  # noqa: ASYNC240 (a metadata write, no real wait)
            async with self._room:
                await self._room.wait_for(
                    lambda: stop.is_set() or self._in_flight + self._buffer.qsize() < self._capacity
                )
                if stop.is_set():
                    return
                want = min(10, self._capacity - self._in_flight - self._buffer.qsize())
            try:
                response = await self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=want,
                    WaitTimeSeconds=cfg.wait_time_s,
                    VisibilityTimeout=cfg.visibility_timeout_s,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as error:  # network trouble: pause, never die
                log.warning("receive_failed", error=repr(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            for message in response.get("Messages", []):
                await self._buffer.put(_delivery(message))

    async def _work_loop(self, stop: asyncio.Event) -> None:
        while True:
            getter = asyncio.ensure_future(self._buffer.get())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                stopper.cancel()
                return
            stopper.cancel()
            delivery = getter.result()
            if stop.is_set():
                await self._buffer.put(delivery)  # never started: released with the rest
                return
            async with self._room:
                self._in_flight += 1
            try:
                await self.process(delivery)
            except Exception as error:
                # Bookkeeping itself failed (database or SQS down): the delivery stays hidden until its
                # visibility timeout ends and then comes back, so nothing is lost; keep the worker alive.
                log.error("delivery_bookkeeping_failed", error=repr(error), exc_info=error)
            finally:
                async with self._room:
                    self._in_flight -= 1
                    self._room.notify_all()
                self.processed += 1

    async def _release_protection_when_idle(self, stop: asyncio.Event) -> None:
        idle_after = self.settings.worker.scale_in_idle_s
        while not stop.is_set():
            if self._in_flight or not self._buffer.empty():
                self._idle_since = time.monotonic()
            elif time.monotonic() - self._idle_since >= idle_after:
                await self.scale_in_guard.set_protected(False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(5.0, max(idle_after / 3, 0.1)))

    async def _fail_dead_lettered_tasks(self, stop: asyncio.Event) -> None:
        """Backstop for failures the handler never saw: a worker killed (OOM, spot) on the last delivery.

        SQS then moves the message to the DLQ silently; this makes its task FAILED with a reason. The message
        stays in the DLQ for an operator to redrive, hidden for 12 h after each look so it is not re-read.
        """
        every = self.settings.worker.dead_letter_check_s
        if not every:
            return
        dlq = self.queues.dead_letter[self.stage]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                return
            try:
                response = await self.sqs.receive_message(
                    QueueUrl=dlq,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=0,
                    VisibilityTimeout=43200,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
                for message in response.get("Messages", []):
                    task_id = salvage_task_id(message["Body"])
                    if task_id is not None and await taskstate.fail_task(
                        self.pool,
                        task_id,
                        self.stage,
                        code="dead_lettered",
                        message=f"the {self.stage} stage never finished: its worker stopped (crashed, ran out of "
                        "memory or was reclaimed) on every delivery",
                    ):
                        log.error("dead_lettered_task_failed", task_id=str(task_id))
            except Exception as error:
                log.warning("dead_letter_check_failed", error=repr(error))

    async def _release_buffered(self) -> None:
        released = 0
        while not self._buffer.empty():
            delivery = self._buffer.get_nowait()
            await self._set_visibility(delivery, 0)
            released += 1
        if released:
            log.info("released_unstarted", count=released)

    # ------------------------------------------------------------------ one delivery

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
                await self._process_message(message, delivery)

    async def _process_message(self, message: StageMessage, delivery: Delivery) -> None:
        claim_token = uuid.uuid4()
        claim = await taskstate.claim_stage(
            self.pool,
            message.task_id,
            self.stage,
            claim_token,
            stale_after_s=self.settings.worker.visibility_timeout_s,
            receive_count=delivery.receive_count,
        )
        if claim.result is ClaimResult.ALREADY_COMPLETED:
            log.info("duplicate_delivery", pending_handoff=claim.pending_next_message is not None)
            if claim.pending_next_message is not None:
                await self._hand_off(message, decode_message(msgspec.json.encode(claim.pending_next_message)))
            await self._delete(delivery)
            return
        if claim.result is ClaimResult.NOT_RUNNABLE:
            log.info("delivery_dropped", reason=claim.reason)
            await self._delete(delivery)
            return
        if claim.result is ClaimResult.HELD_ELSEWHERE:
            # Another delivery of the same message is being worked on; keep this copy hidden and let it come
            # back once that claim could have gone stale, in case that worker dies.
            log.info("claim_held_elsewhere")
            await self._set_visibility(delivery, self.settings.worker.visibility_timeout_s)
            return

        with structlog.contextvars.bound_contextvars(attempt=claim.attempt):
            log.info("stage_started", receive_count=delivery.receive_count)
            # Before any work: an instance running a job must not be picked for scale-in.
            self._idle_since = time.monotonic()
            await self.scale_in_guard.set_protected(True)
            heartbeat = asyncio.create_task(self._heartbeat(delivery, message, claim_token))
            workdir = Path(tempfile.mkdtemp(prefix=f"vidpipe-{self.stage}-", dir=self.settings.worker.workdir))
            started = time.monotonic()
            try:
                outcome = await self.handler(message, self._context(message, claim.attempt, delivery, workdir))
            except asyncio.CancelledError:
                await self._release_claim(message, delivery, claim_token)
                raise
            except PermanentError as error:
                await self._fail(message, delivery, error.code, error.message, claim.attempt)
                return
            except Exception as error:
                await self._retry_or_give_up(message, delivery, claim_token, claim.attempt, error)
                return
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
                shutil.rmtree(workdir, ignore_errors=True)
            await self._commit_and_hand_off(message, delivery, claim_token, outcome, time.monotonic() - started)

    def _context(self, message: StageMessage, attempt: int, delivery: Delivery, workdir: Path) -> StageContext:
        async def record(fraction: float, detail: dict[str, Any]) -> None:
            await taskstate.record_progress(self.pool, message.task_id, self.stage, attempt, fraction, detail)

        return StageContext(
            stage=self.stage,
            settings=self.settings,
            db=self.pool,
            storage=self.storage,
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
        next_json = msgspec.to_builtins(outcome.next_message) if outcome.next_message else None
        detail = {**outcome.detail, "seconds": round(took_s, 3)}
        async with self.pool.connection() as conn, conn.transaction() as tx:
            if outcome.persist is not None:
                await outcome.persist(conn)
            committed = await taskstate.complete_stage(
                conn,
                message.task_id,
                self.stage,
                claim_token,
                next_message_json=next_json,
                final_status=outcome.final_status,
                detail=detail,
            )
            if not committed:
                # Our claim went stale and another delivery took it over: its results win.
                log.warning("claim_lost_results_discarded")
                raise tx.Rollback()
        if not committed:
            return
        log.info("stage_completed", seconds=round(took_s, 3), final_status=outcome.final_status)
        if outcome.next_message is not None:
            await self._hand_off(message, outcome.next_message)
        await self._delete(delivery)

    async def _hand_off(self, message: StageMessage, next_message: StageMessage) -> None:
        await send_stage_message(self.sqs, self.queues, next_message)
        await taskstate.mark_handed_off(self.pool, message.task_id, self.stage)
        log.info("handed_off", next_stage=stage_of(next_message))

    async def _fail(self, message: StageMessage, delivery: Delivery, code: str, reason: str, attempt: int) -> None:
        log.warning("stage_failed", code=code, reason=reason)
        await taskstate.fail_task(self.pool, message.task_id, self.stage, code=code, message=reason, attempt=attempt)
        await self._delete(delivery)

    async def _retry_or_give_up(
        self,
        message: StageMessage,
        delivery: Delivery,
        claim_token: uuid.UUID,
        attempt: int,
        error: Exception,
    ) -> None:
        code = error.code if isinstance(error, StageError) else type(error).__name__
        reason = error.message if isinstance(error, StageError) else str(error) or repr(error)
        cfg = self.settings.worker
        if delivery.receive_count >= cfg.max_receive_count:
            # Last delivery the redrive policy allows: say so in the task, then let SQS move it to the DLQ.
            log.error("retries_exhausted", code=code, reason=reason, receive_count=delivery.receive_count)
            await taskstate.fail_task(
                self.pool,
                message.task_id,
                self.stage,
                code="retries_exhausted",
                message=f"{self.stage} failed {delivery.receive_count} times; last error ({code}): {reason}",
                attempt=attempt,
            )
            await self._set_visibility(delivery, 0)
            return
        delay = backoff_delay(delivery.receive_count, cfg.retry_base_delay_s, cfg.retry_max_delay_s)
        log.warning("stage_retrying", code=code, reason=reason, retry_in_s=delay, exc_info=error)
        await taskstate.record_retry(
            self.pool,
            message.task_id,
            self.stage,
            claim_token,
            code=code,
            message=reason,
            delay_s=delay,
            receive_count=delivery.receive_count,
        )
        await self._set_visibility(delivery, delay)

    async def _release_claim(self, message: StageMessage, delivery: Delivery, claim_token: uuid.UUID) -> None:
        """Shutdown cut a handler short: make the stage claimable again and the delivery visible now."""
        log.warning("handler_cancelled_released")
        with contextlib.suppress(Exception):
            await asyncio.shield(
                taskstate.record_retry(
                    self.pool,
                    message.task_id,
                    self.stage,
                    claim_token,
                    code="worker_shutdown",
                    message="the worker stopped before the stage finished",
                    delay_s=0,
                    receive_count=delivery.receive_count,
                )
            )
            await asyncio.shield(self._set_visibility(delivery, 0))

    async def _dead_letter_poison(self, delivery: Delivery, reason: str) -> None:
        """Nothing can ever process this body: keep it in the DLQ for a person, fail its task if known."""
        log.error("poison_message", reason=reason)
        task_id = salvage_task_id(delivery.body)
        if task_id is not None:
            await taskstate.fail_task(
                self.pool,
                task_id,
                self.stage,
                code="poison_message",
                message=f"unreadable {self.stage} message",
            )
        await self.sqs.send_message(
            QueueUrl=self.queues.dead_letter[self.stage],
            MessageBody=delivery.body,
            MessageAttributes={"vidpipe_error": {"DataType": "String", "StringValue": reason[:1000]}},
        )
        await self._delete(delivery)

    async def _heartbeat(self, delivery: Delivery, message: StageMessage, claim_token: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_every)
            try:
                await self._set_visibility(delivery, self.settings.worker.visibility_timeout_s)
                if not await taskstate.heartbeat(self.pool, message.task_id, self.stage, claim_token):
                    log.warning("heartbeat_claim_lost")
            except Exception as error:
                log.warning("heartbeat_failed", error=repr(error))

    # ------------------------------------------------------------------ SQS calls

    async def _delete(self, delivery: Delivery) -> None:
        await self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=delivery.receipt_handle)

    async def _set_visibility(self, delivery: Delivery, seconds: int) -> None:
        await self.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=delivery.receipt_handle, VisibilityTimeout=seconds
        )


def _delivery(message: MessageTypeDef) -> Delivery:
    attributes = message.get("Attributes", {})
    return Delivery(
        body=message["Body"],
        receipt_handle=message["ReceiptHandle"],
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        received_at=time.monotonic(),
    )
