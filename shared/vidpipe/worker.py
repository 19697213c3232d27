"""Run one stage's worker process: load the engine once, then consume until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from typing import Any

import structlog

from vidpipe.consumer import Consumer
from vidpipe.db.pool import open_pool
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.scaling import open_scale_in_guard
from vidpipe.settings import Settings, Stage
from vidpipe.stage import HandlerFactory
from vidpipe.storage import open_storage

log = structlog.get_logger("vidpipe.worker")

# Each stage's handler factory, imported only by the worker that runs it (engines are heavy).
HANDLER_FACTORIES: dict[Stage, str] = {
    "moderate": "vidpipe_moderator.handler:moderation_handler",
    "transcribe": "vidpipe_transcriber.handler:transcription_handler",
    "summarize": "vidpipe_summarizer.handler:summarization_handler",
}


def load_handler_factory(stage: Stage) -> HandlerFactory:
    module_name, _, attribute = HANDLER_FACTORIES[stage].partition(":")
    factory: HandlerFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_worker(stage: Stage, settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    install_stop_signals(stop)
    structlog.contextvars.bind_contextvars(stage=stage)
    factory = load_handler_factory(stage)
    async with contextlib.AsyncExitStack() as stack:
        # The model loads here, once, before the first receive.
        handler: Any = await stack.enter_async_context(factory(settings))
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
        )
        log.info("worker_ready")
        await consumer.run(stop)
