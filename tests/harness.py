"""Drives a Consumer against the real local SQS/S3 and PostgreSQL for tests (see the `harness` fixture)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool

from vidpipe.consumer import Consumer
from vidpipe.messages import ModerateRequest, StageMessage, encode_message
from vidpipe.queues import QueueUrls
from vidpipe.settings import Settings
from vidpipe.stage import Handler
from vidpipe.storage import Storage
from vidpipe.testing import create_task_row

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@dataclass
class Harness:
    settings: Settings
    pool: AsyncConnectionPool[Any]
    sqs: SQSClient
    storage: Storage
    queues: QueueUrls
    running: list[tuple[asyncio.Event, asyncio.Task[None], Consumer]] = field(default_factory=list)

    def consumer(self, handler: Handler[Any], settings: Settings | None = None, stage: str = "moderate") -> Consumer:
        return Consumer(
            stage=stage,  # type: ignore[arg-type]
            handler=handler,
            settings=settings or self.settings,
            pool=self.pool,
            storage=self.storage,
            sqs=self.sqs,
            queues=self.queues,
        )

    def start(self, consumer: Consumer) -> asyncio.Event:
        stop = asyncio.Event()
        self.running.append((stop, asyncio.create_task(consumer.run(stop)), consumer))
        return stop

    async def new_task(self) -> ModerateRequest:
        task_id, media_id = await create_task_row(self.pool, subject=f"u-{uuid.uuid4().hex[:6]}")
        return ModerateRequest(task_id=task_id, media_id=media_id, trace_id="trace-test", video_key="uploads/x.mp4")

    async def send(self, message: StageMessage | str, stage: str = "moderate") -> None:
        body = message if isinstance(message, str) else encode_message(message)
        await self.sqs.send_message(QueueUrl=self.queues.main[stage], MessageBody=body)  # type: ignore[index]

    async def queue_depth(self, url: str) -> tuple[int, int]:
        """(visible, in flight) as SQS reports them."""
        attributes = (
            await self.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    async def drain(self, url: str, wait_s: int = 1) -> list[dict[str, Any]]:
        response = await self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, MessageAttributeNames=["All"]
        )
        return list(response.get("Messages", []))


async def wait_until(predicate: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval_s)
