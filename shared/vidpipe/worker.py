"""Run one stage's worker process: load the engine once, then consume until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from typing import Any

import structlog

from vidpipe.consumer import Consumer
from vidpipe.db.pool import open_pool
from vidpipe.plugins import load_handler_factory, load_stage
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.scaling import open_scale_in_guard
from vidpipe.settings import Settings, Stage
from vidpipe.stage import StageSpec
from vidpipe.storage import open_storage

log = structlog.get_logger("vidpipe.worker")


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def resolve_stage(stage: Stage, handler_override: str | None = None) -> StageSpec:
    """The installed stage, or (tests, experiments) another handler factory run under the stage's name."""
    if handler_override:
        return StageSpec(name=stage, handler_factory=load_handler_factory(handler_override))
    return load_stage(stage)


async def run_worker(
    stage: Stage, settings: Settings, *, stop: asyncio.Event | None = None, handler_override: str | None = None
) -> None:
    stop = stop or asyncio.Event()
    install_stop_signals(stop)
    structlog.contextvars.bind_contextvars(stage=stage)
    spec = resolve_stage(stage, handler_override)
    grace = settings.worker.shutdown_grace_s if settings.worker.shutdown_grace_s is not None else spec.shutdown_grace_s
    spec = dataclasses.replace(spec, shutdown_grace_s=grace)
    async with contextlib.AsyncExitStack() as stack:
        # The model loads here, once, before the first receive.
        handler: Any = await stack.enter_async_context(spec.handler_factory(settings))
        pool = await open_pool(settings.db, name=f"worker-{stage}")
        stack.push_async_callback(pool.close)
        storage = await stack.enter_async_context(open_storage(settings.aws))
        sqs = await stack.enter_async_context(open_sqs(settings.aws))
        queues = await resolve_queue_urls(sqs, settings)
        guard = await stack.enter_async_context(open_scale_in_guard(settings.worker, settings.aws))
        consumer = Consumer(
            scale_in_guard=guard,
            stage=stage,
            handler=handler,
            settings=settings,
            pool=pool,
            storage=storage,
            sqs=sqs,
            queues=queues,
            max_concurrency=spec.max_concurrency,
            shutdown_grace_s=spec.shutdown_grace_s,
        )
        log.info("worker_ready", max_concurrency=spec.max_concurrency, shutdown_grace_s=spec.shutdown_grace_s)
        await consumer.run(stop)
