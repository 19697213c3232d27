"""Deliveries: what a stage worker receives, and the queue operations the runner needs.

`StageQueues` is the small protocol the stage runner is written against (receive, delete, change
visibility, hand a message to the next stage, copy a body to the dead-letter queue); `SqsStageQueues` is the
real one and `vidpipe.memory.InMemoryQueues` the unit tier's. `DeliveryBuffer` keeps up to
`concurrency + prefetch` deliveries received (receiving nothing while the task store is unreachable) and
releases the unstarted ones at shutdown; `heartbeat`
keeps a running delivery hidden and its claim fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from vidpipe.messages import StageMessage
from vidpipe.queues import QueueUrls, send_stage_message
from vidpipe.settings import Stage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = structlog.get_logger("vidpipe.deliveries")

ERROR_ATTRIBUTE = "vidpipe_error"  # set on bodies the consumer itself copied to a DLQ
# While the task store is unreachable the receiver probes it at these intervals (doubling).
STORE_PROBE_FIRST_S = 1.0
STORE_PROBE_MAX_S = 30.0


@dataclass(frozen=True)
class Delivery:
    """One received message."""

    body: str
    receipt_handle: str
    message_id: str
    receive_count: int
    copied_with_error: str | None = None  # ERROR_ATTRIBUTE, on dead letters the consumer put there itself


class StageQueues(Protocol):
    """The queue operations of one stage's worker."""

    async def receive(self, max_messages: int, *, wait_s: int, visibility_s: int) -> list[Delivery]: ...

    async def delete(self, delivery: Delivery) -> None: ...

    async def set_visibility(self, delivery: Delivery, seconds: int) -> None: ...

    async def send(self, message: StageMessage) -> None:
        """Hand a message to the queue of the stage it is addressed to."""
        ...

    async def dead_letter(self, body: str, reason: str) -> None:
        """Copy a body nothing can process to this stage's dead-letter queue, with the reason."""
        ...

    async def receive_dead_letters(self, max_messages: int, *, visibility_s: int) -> list[Delivery]: ...


class SqsStageQueues:
    def __init__(self, sqs: SQSClient, queues: QueueUrls, stage: Stage) -> None:
        self.sqs = sqs
        self.queues = queues
        self.url = queues.main[stage]
        self.dead_letter_url = queues.dead_letter[stage]

    async def receive(self, max_messages: int, *, wait_s: int, visibility_s: int) -> list[Delivery]:
        return await self._receive(self.url, max_messages, wait_s=wait_s, visibility_s=visibility_s)

    async def receive_dead_letters(self, max_messages: int, *, visibility_s: int) -> list[Delivery]:
        return await self._receive(self.dead_letter_url, max_messages, wait_s=0, visibility_s=visibility_s)

    async def _receive(self, url: str, max_messages: int, *, wait_s: int, visibility_s: int) -> list[Delivery]:
        response = await self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=[ERROR_ATTRIBUTE],
        )
        return [_delivery(m) for m in response.get("Messages", [])]

    async def delete(self, delivery: Delivery) -> None:
        await self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=delivery.receipt_handle)

    async def set_visibility(self, delivery: Delivery, seconds: int) -> None:
        await self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=delivery.receipt_handle, VisibilityTimeout=seconds
        )

    async def send(self, message: StageMessage) -> None:
        await send_stage_message(self.sqs, self.queues, message)

    async def dead_letter(self, body: str, reason: str) -> None:
        await self.sqs.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=body,
            MessageAttributes={ERROR_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}},
        )


def _delivery(message: MessageTypeDef) -> Delivery:
    attributes = message.get("Attributes", {})
    error_attribute = message.get("MessageAttributes", {}).get(ERROR_ATTRIBUTE)
    error = error_attribute.get("StringValue") if error_attribute is not None else None
    return Delivery(
        body=message["Body"],
        receipt_handle=message["ReceiptHandle"],
        message_id=message["MessageId"],
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        copied_with_error=error,
    )


class DeliveryBuffer:
    """Receives while there is room for more work (`capacity` = concurrency + prefetch) and hands out."""

    def __init__(
        self,
        queues: StageQueues,
        *,
        capacity: int,
        wait_s: int,
        visibility_s: int,
        liveness_file: str | None = None,
        store_reachable: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.queues = queues
        self.capacity = capacity
        self.wait_s = wait_s
        self.visibility_s = visibility_s
        self.liveness_file = liveness_file
        self.store_reachable = store_reachable
        self.in_flight = 0
        self._buffer: asyncio.Queue[Delivery] = asyncio.Queue()
        self._room = asyncio.Condition()
        self._store_suspect = False
        self.receiving_paused = False
        """True while the receiver waits for the task store to answer again."""

    def store_failed(self) -> None:
        """A delivery's bookkeeping failed: receive nothing more until the task store answers again. Every
        receive counts toward the queue's dead-letter limit, so receiving during a database outage would
        dead-letter healthy tasks; paused, an outage costs each message at most the one receive in hand."""
        self._store_suspect = True

    @property
    def buffered(self) -> int:
        return self._buffer.qsize()

    async def receive_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._touch_liveness()
            if self._store_suspect:
                await self._wait_for_store(stop)
                continue
            async with self._room:
                await self._room.wait_for(lambda: stop.is_set() or self.in_flight + self.buffered < self.capacity)
                if stop.is_set():
                    return
                want = min(10, self.capacity - self.in_flight - self.buffered)
            try:
                received = await self.queues.receive(want, wait_s=self.wait_s, visibility_s=self.visibility_s)
            except Exception as error:  # network trouble: pause, never die
                log.warning("receive_failed", error=repr(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            for delivery in received:
                await self._buffer.put(delivery)

    def _touch_liveness(self) -> None:
        if self.liveness_file:
            Path(self.liveness_file).touch()

    async def _wait_for_store(self, stop: asyncio.Event) -> None:
        """Probe the store with back-off (1 s doubling to 30 s) until it answers or `stop` is set."""
        delay = STORE_PROBE_FIRST_S
        while not stop.is_set():
            self._touch_liveness()  # paused on purpose, not stuck: the health check must not replace us
            if self.store_reachable is None or await self.store_reachable():
                self._store_suspect = False
                if self.receiving_paused:
                    log.info("receiving_resumed_store_reachable")
                    self.receiving_paused = False
                return
            if not self.receiving_paused:
                log.warning("receiving_paused_store_unreachable")
                self.receiving_paused = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, STORE_PROBE_MAX_S)

    async def wake(self) -> None:
        """A receiver waiting for room must not outlive a stop."""
        async with self._room:
            self._room.notify_all()

    async def take(self, stop: asyncio.Event) -> Delivery | None:
        """The next delivery, or None once `stop` is set (a delivery taken then goes back for release)."""
        getter = asyncio.ensure_future(self._buffer.get())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not getter.done():
            getter.cancel()
            return None
        delivery = getter.result()
        if stop.is_set():
            await self._buffer.put(delivery)
            return None
        return delivery

    @contextlib.asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        async with self._room:
            self.in_flight += 1
        try:
            yield
        finally:
            async with self._room:
                self.in_flight -= 1
                self._room.notify_all()

    async def release_unstarted(self) -> int:
        """Make every received-but-unstarted delivery visible again at once."""
        released = 0
        while not self._buffer.empty():
            delivery = self._buffer.get_nowait()
            with contextlib.suppress(Exception):
                await self.queues.set_visibility(delivery, 0)
                released += 1
        return released


@contextlib.asynccontextmanager
async def heartbeat(
    queues: StageQueues,
    delivery: Delivery,
    *,
    every_s: float,
    visibility_s: int,
    refresh_claim: Callable[[], Awaitable[bool]],
) -> AsyncIterator[None]:
    """While the block runs: keep the delivery hidden and the claim fresh; stops with the block, always."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            # Each on its own: an unreachable queue must not let the claim go stale (another worker would take
            # the stage over while this one still runs it), nor a database blip stop hiding the message.
            try:
                await queues.set_visibility(delivery, visibility_s)
            except Exception as error:
                log.warning("heartbeat_visibility_failed", error=repr(error))
            try:
                if not await refresh_claim():
                    log.warning("heartbeat_claim_lost")
            except Exception as error:
                log.warning("heartbeat_claim_refresh_failed", error=repr(error))

    task = asyncio.create_task(beat(), name="heartbeat")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
