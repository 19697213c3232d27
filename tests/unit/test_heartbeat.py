"""The heartbeat keeps a running stage's message hidden and its claim fresh, each even while the other fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vidpipe.deliveries import Delivery, heartbeat

DELIVERY = Delivery(body="{}", receipt_handle="r", message_id="m", receive_count=1)


class FlakyQueues:
    """set_visibility raises while `down` (an unreachable SQS); counts the calls that got through."""

    def __init__(self, *, down: bool) -> None:
        self.down = down
        self.hidden = 0

    async def set_visibility(self, delivery: Delivery, seconds: int) -> None:
        if self.down:
            raise ConnectionError("queue unreachable")
        self.hidden += 1


@pytest.mark.parametrize("queue_down", [True, False], ids=["queue-down", "database-down"])
async def test_one_side_failing_does_not_stop_the_other(queue_down: bool) -> None:
    queues = FlakyQueues(down=queue_down)
    refreshed = 0

    async def refresh_claim() -> bool:
        nonlocal refreshed
        if not queue_down:
            raise ConnectionError("database unreachable")
        refreshed += 1
        return True

    async with heartbeat(queues, DELIVERY, every_s=0.01, visibility_s=60, refresh_claim=refresh_claim):  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
    # The side that works kept beating through every failure of the other
    assert (refreshed if queue_down else queues.hidden) >= 3


async def test_the_heartbeat_stops_with_its_block() -> None:
    queues = FlakyQueues(down=False)
    calls: list[Any] = []

    async def refresh_claim() -> bool:
        calls.append(None)
        return True

    async with heartbeat(queues, DELIVERY, every_s=0.01, visibility_s=60, refresh_claim=refresh_claim):  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
    after = len(calls)
    await asyncio.sleep(0.05)
    assert after >= 1 and len(calls) == after
