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


def assert_events_in_order(events: list[dict[str, Any]]) -> None:
    """A task's events, oldest first, tell a possible story: `queued` before any stage starts; within a stage,
    `started` < `progress`* < one of completed / retried / failed; nothing of an attempt after it ended; a
    later attempt may take over one whose worker died without a word; a re-send may add a later `queued`."""
    open_attempt: dict[str, int | None] = {}
    started_any = queued_seen = False
    for event in events:
        kind, stage, attempt = event["kind"], event["stage"], event["attempt"]
        if kind == "queued":
            # The first `queued` precedes every start; later ones are re-sends (the reconciler's), allowed.
            assert queued_seen or not started_any, f"the first `queued` came after a stage started: {events}"
            queued_seen = True
        elif kind == "started":
            started_any = True
            # A higher attempt may take over an attempt that never ended (its worker died: a stale claim).
            previous = open_attempt.get(stage)
            assert previous is None or previous < attempt, f"{stage} attempt {attempt} started twice: {events}"
            open_attempt[stage] = attempt
        elif kind == "progress":
            assert open_attempt.get(stage) == attempt, f"{stage} progress outside its attempt: {events}"
        elif kind in ("completed", "retried") or (kind == "failed" and stage is not None and stage in open_attempt):
            if kind == "retried" and open_attempt.get(stage) is None:
                continue  # an operator's redrive reopens a failed stage
            assert open_attempt.get(stage) == attempt, f"{stage} {kind} outside its attempt: {events}"
            open_attempt[stage] = None


async def assert_task_events_in_order(pool: AsyncConnectionPool[Any], task_id: uuid.UUID) -> None:
    from vidpipe.testing import task_events

    assert_events_in_order(await task_events(pool, task_id))
