"""The unit tier's world: a consumer on in-memory queues and an in-memory task store, with a manual clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vidpipe.consumer import Consumer
from vidpipe.memory import InMemoryBroker, InMemoryQueues, InMemoryTaskStore, ManualClock
from vidpipe.messages import ModerateRequest, TranscribeRequest, encode_message
from vidpipe.settings import Settings, Stage, WorkerSettings
from vidpipe.stage import Handler, StageOutcome

VISIBILITY_S = 30


def fast_settings(**worker: Any) -> Settings:
    defaults: dict[str, Any] = {
        "wait_time_s": 0,
        "visibility_timeout_s": VISIBILITY_S,
        "heartbeat_interval_s": 0.01,
        "retry_base_delay_s": 0,
        "retry_max_delay_s": 0,
        "dead_letter_check_s": 0,
        "shutdown_grace_s": 2,
        "progress_min_interval_s": 0,
        "scale_in_idle_s": 0.05,
    }
    return Settings(worker=WorkerSettings(**(defaults | worker)))


def next_of(message: ModerateRequest) -> TranscribeRequest:
    return TranscribeRequest(
        task_id=message.task_id, media_id=message.media_id, trace_id=message.trace_id, audio_key="audio/x.flac"
    )


async def hand_over(message: ModerateRequest, ctx: Any) -> StageOutcome:
    return StageOutcome(next_message=next_of(message))


@dataclass
class World:
    clock: ManualClock = field(default_factory=ManualClock)
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.broker = InMemoryBroker(self.clock)
        self.store = InMemoryTaskStore(self.clock)

    def consumer(
        self, handler: Handler[Any], *, stage: Stage = "moderate", max_concurrency: int | None = None, **worker: Any
    ) -> Consumer:
        return Consumer(
            stage=stage,
            handler=handler,
            settings=fast_settings(**worker),
            stage_queues=InMemoryQueues(self.broker, stage),
            store=self.store,
            max_concurrency=max_concurrency,
        )

    def start(self, consumer: Consumer) -> asyncio.Event:
        stop = asyncio.Event()
        self.running.append((stop, asyncio.create_task(consumer.run(stop))))
        return stop

    async def stop_all(self) -> None:
        for stop, _task in self.running:
            stop.set()
        await asyncio.gather(*(task for _, task in self.running))
        self.running.clear()

    def new_task(self, stage: Stage = "moderate") -> ModerateRequest:
        task_id = self.store.add_task(stage=stage)
        return ModerateRequest(task_id=task_id, media_id=uuid.uuid4(), trace_id="t", video_key="uploads/x.mp4")

    def send(self, message: ModerateRequest | str, queue: str = "moderate") -> str:
        body = message if isinstance(message, str) else encode_message(message)
        return self.broker.send(queue, body)

    def status(self, task_id: uuid.UUID) -> str:
        return self.store.tasks[task_id].status.value


async def eventually(predicate: Callable[[], Any], timeout_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)
