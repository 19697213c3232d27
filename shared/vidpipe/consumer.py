"""One stage worker's consumer: deliveries in, a stage runner per slot, small plug-ins beside them.

The parts (each in its own module): `DeliveryBuffer` receives and buffers (vidpipe.deliveries),
`StageRunner` takes one delivery from claim to hand-off (vidpipe.runner), `RetryPolicy` decides back-off and
give-up (vidpipe.retry), and plug-ins run beside the loop: the dead-letter watcher (vidpipe.deadletters) and
scale-in protection (vidpipe.scaling).

Shutdown: `stop` is an event. The receiver stops polling, buffered (prefetched) deliveries are released
with visibility 0, in-flight handlers get the stage's shutdown grace to finish; any still running are then
cancelled and their claims released for the next worker. Plug-ins stop on the same event.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from vidpipe.deadletters import DeadLetterWatcher
from vidpipe.deliveries import DeliveryBuffer, SqsStageQueues, StageQueues
from vidpipe.queues import QueueUrls
from vidpipe.retry import RetryPolicy
from vidpipe.runner import JobHook, StageRunner
from vidpipe.scaling import NoScaleInGuard, ScaleInGuard, ScaleInProtection
from vidpipe.settings import Settings, Stage
from vidpipe.stage import Handler
from vidpipe.storage import Storage
from vidpipe.taskstore import TaskStore

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger("vidpipe.consumer")

DEFAULT_SHUTDOWN_GRACE_S = 60.0


class Plugin(Protocol):
    """Runs beside the consumer loop until `stop` is set; must return soon after."""

    async def run(self, stop: asyncio.Event) -> None: ...


class Consumer:
    def __init__(
        self,
        *,
        stage: Stage,
        handler: Handler[Any],
        settings: Settings,
        pool: AsyncConnectionPool[Any] | None = None,
        storage: Storage | None = None,
        sqs: SQSClient | None = None,
        queues: QueueUrls | None = None,
        scale_in_guard: ScaleInGuard | None = None,
        max_concurrency: int | None = None,
        shutdown_grace_s: float | None = None,
        stage_queues: StageQueues | None = None,
        store: TaskStore | None = None,
    ) -> None:
        """Real services by default (`pool`, `sqs` and `queues`); the unit tier passes `stage_queues` and `store`."""
        cfg = settings.worker
        if stage_queues is None:
            assert sqs is not None and queues is not None, "give sqs and queues, or stage_queues"
            stage_queues = SqsStageQueues(sqs, queues, stage)
        if store is None:
            from vidpipe.taskstate import PostgresTaskStore  # psycopg only where Postgres is used

            assert pool is not None, "give pool, or store"
            store = PostgresTaskStore(pool)
        self.stage = stage
        self.settings = settings
        self.concurrency = min(cfg.concurrency, max_concurrency or cfg.concurrency)
        if self.concurrency < cfg.concurrency:
            log.warning("concurrency_capped_by_engine", asked=cfg.concurrency, allowed=self.concurrency)
        self.shutdown_grace_s = next(
            g for g in (shutdown_grace_s, cfg.shutdown_grace_s, DEFAULT_SHUTDOWN_GRACE_S) if g is not None
        )
        self.buffer = DeliveryBuffer(
            stage_queues,
            capacity=self.concurrency + cfg.prefetch,
            wait_s=cfg.wait_time_s,
            visibility_s=cfg.visibility_timeout_s,
            liveness_file=cfg.heartbeat_file,
            store_reachable=store.reachable,
        )
        self.scale_in = ScaleInProtection(
            scale_in_guard or NoScaleInGuard(), idle_after_s=cfg.scale_in_idle_s, is_busy=self.is_busy
        )
        on_job_start: list[JobHook] = [self.scale_in.job_started]
        self.runner = StageRunner(
            stage=stage,
            handler=handler,
            settings=settings,
            queues=stage_queues,
            store=store,
            retry_policy=RetryPolicy.from_settings(cfg),
            max_concurrency=max_concurrency or cfg.concurrency,
            db=pool,
            storage=storage,
            on_job_start=on_job_start,
        )
        self.plugins: list[Plugin] = [
            self.scale_in,
            DeadLetterWatcher(
                stage=stage,
                queues=stage_queues,
                store=store,
                every_s=cfg.dead_letter_check_s,
                stale_after_s=cfg.visibility_timeout_s,
            ),
        ]
        self.processed = 0  # deliveries finished (any outcome); for benchmarks and tests

    @property
    def scale_in_guard(self) -> ScaleInGuard:
        return self.scale_in.guard

    @scale_in_guard.setter
    def scale_in_guard(self, guard: ScaleInGuard) -> None:
        self.scale_in.guard = guard

    def is_busy(self) -> bool:
        return bool(self.buffer.in_flight or self.buffer.buffered)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then drain as described in the module docstring."""
        log.info("consumer_started", stage=self.stage, concurrency=self.concurrency, grace_s=self.shutdown_grace_s)
        receiver = asyncio.create_task(self.buffer.receive_until(stop), name=f"{self.stage}-receiver")
        side = [asyncio.create_task(p.run(stop), name=f"{self.stage}-{type(p).__name__}") for p in self.plugins]
        slots = [
            asyncio.create_task(self._work_until(stop), name=f"{self.stage}-slot-{i}") for i in range(self.concurrency)
        ]
        await stop.wait()
        await self.buffer.wake()
        await receiver  # finishes its current long poll; what that poll brought is released below
        done, pending = await asyncio.wait(slots, timeout=self.shutdown_grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                log.error("worker_task_crashed", error=repr(task.exception()))
        released = await self.buffer.release_unstarted()
        if released:
            log.info("released_unstarted", count=released)
        for result in await asyncio.gather(*side, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("plugin_crashed", error=repr(result))
        log.info("consumer_stopped", stage=self.stage, processed=self.processed, cancelled=len(pending))

    async def _work_until(self, stop: asyncio.Event) -> None:
        while (delivery := await self.buffer.take(stop)) is not None:
            async with self.buffer.working():
                try:
                    await self.runner.process(delivery)
                except Exception as error:
                    # Bookkeeping itself failed (database or SQS down): the delivery stays hidden until its
                    # visibility timeout ends and then comes back, so nothing is lost; keep the slot alive, and
                    # receive nothing more until the store answers (each receive counts toward the DLQ).
                    log.error("delivery_bookkeeping_failed", error=repr(error), exc_info=error)
                    self.buffer.store_failed()
                finally:
                    self.processed += 1
