"""The task store's guards on real PostgreSQL (the unit tier checks the same rules in memory)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from psycopg import AsyncConnection

from vidpipe.messages import ModerateRequest, TranscribeRequest
from vidpipe.stage import StageContext, StageOutcome, TaskStatus
from vidpipe.taskstate import PostgresTaskStore
from vidpipe.taskstore import AbandonedBy, ClaimResult
from vidpipe.testing import task_events, task_row

from ..harness import Harness, wait_until


async def claimed(harness: Harness) -> tuple[PostgresTaskStore, uuid.UUID, uuid.UUID]:
    store = PostgresTaskStore(harness.pool)
    message = await harness.new_task()
    token = uuid.uuid4()
    claim = await store.claim(message.task_id, "moderate", token, message_id="m", stale_after_s=60, receive_count=1)
    assert claim.result is ClaimResult.CLAIMED
    return store, message.task_id, token


async def stage_state(harness: Harness, task_id: uuid.UUID) -> str:
    async with harness.pool.connection() as conn:
        row = await (await conn.execute("SELECT state FROM stage_runs WHERE task_id = %s", (task_id,))).fetchone()
        assert row is not None
        return str(row["state"])


async def test_a_completed_stage_is_never_rewritten_as_failed(harness: Harness) -> None:
    store, task_id, token = await claimed(harness)
    assert await store.complete(task_id, "moderate", token, StageOutcome(final_status=TaskStatus.COMPLETED), detail={})
    # Neither a late failure of the holder nor an abandoned-stage failure may touch it
    assert not await store.fail_claimed(task_id, "moderate", token, code="x", message="late")
    assert not await store.fail_abandoned(
        task_id, "moderate", by=AbandonedBy.DEAD_LETTER, code="x", message="y", stale_after_s=0
    )
    assert await stage_state(harness, task_id) == "completed"
    task = await task_row(harness.pool, task_id)
    assert (task["status"], task["error_code"]) == ("COMPLETED", None)
    assert [e["kind"] for e in await task_events(harness.pool, task_id)] == ["started", "completed"]


async def test_only_the_claim_holder_fails_a_stage(harness: Harness) -> None:
    store, task_id, _ = await claimed(harness)
    assert not await store.fail_claimed(task_id, "moderate", uuid.uuid4(), code="x", message="not mine")
    assert (await task_row(harness.pool, task_id))["status"] == "PROCESSING"
    assert await stage_state(harness, task_id) == "running"


async def test_a_lost_claim_writes_none_of_the_handlers_results(harness: Harness) -> None:
    store, task_id, _ = await claimed(harness)
    wrote: list[int] = []

    async def persist(conn: AsyncConnection[Any]) -> None:
        wrote.append(1)

    outcome = StageOutcome(persist=persist, final_status=TaskStatus.COMPLETED)
    assert not await store.complete(task_id, "moderate", uuid.uuid4(), outcome, detail={})
    assert wrote == []
    assert (await task_row(harness.pool, task_id))["status"] == "PROCESSING"


async def test_progress_after_the_stage_ended_is_not_recorded(harness: Harness) -> None:
    store, task_id, token = await claimed(harness)
    assert await store.record_progress(task_id, "moderate", token, attempt=1, fraction=0.5, detail={})
    assert await store.complete(task_id, "moderate", token, StageOutcome(final_status=TaskStatus.COMPLETED), detail={})
    assert not await store.record_progress(task_id, "moderate", token, attempt=1, fraction=0.9, detail={})
    assert [e["kind"] for e in await task_events(harness.pool, task_id)] == ["started", "progress", "completed"]


async def test_an_abandoned_stage_fails_only_once_its_claim_is_stale(harness: Harness) -> None:
    store, task_id, _ = await claimed(harness)
    live = await store.fail_abandoned(
        task_id, "moderate", by=AbandonedBy.UNREADABLE, code="poison_message", message="m", stale_after_s=60
    )
    assert not live
    await asyncio.sleep(1.1)
    stale = await store.fail_abandoned(
        task_id, "moderate", by=AbandonedBy.UNREADABLE, code="poison_message", message="m", stale_after_s=1
    )
    assert stale
    task = await task_row(harness.pool, task_id)
    assert (task["status"], task["error_code"]) == ("FAILED", "poison_message")


async def test_a_dead_letter_is_recorded_once(harness: Harness) -> None:
    store = PostgresTaskStore(harness.pool)
    first = await store.record_dead_letter("mid-1", "moderate", None, outcome="left_alone", reason="r", body="{}")
    again = await store.record_dead_letter("mid-1", "moderate", None, outcome="task_failed", reason="r", body="{}")
    assert (first, again) == (True, False)


async def test_a_duplicate_of_a_stage_running_past_four_visibility_timeouts_completes_once(harness: Harness) -> None:
    # Given a stage far longer than the visibility timeout, and a second message for it arriving meanwhile
    settings = harness.settings.model_copy(
        update={
            "worker": harness.settings.worker.model_copy(
                update={"visibility_timeout_s": 1, "heartbeat_interval_s": 0.3, "concurrency": 2}
            )
        }
    )
    calls: list[int] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        await asyncio.sleep(4.5)
        return StageOutcome(
            next_message=TranscribeRequest(
                task_id=message.task_id, media_id=message.media_id, trace_id=message.trace_id, audio_key="a"
            )
        )

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler, settings)
    harness.start(consumer)
    await wait_until(lambda: calls == [1])
    await harness.send(message)

    # When it finishes
    await wait_until(lambda: consumer.processed == 2, timeout_s=30)

    # Then it ran once, completed once, nothing was dead-lettered and the task was never failed
    assert calls == [1]
    kinds = [e["kind"] for e in await task_events(harness.pool, message.task_id)]
    assert kinds == ["started", "completed"]
    assert (await task_row(harness.pool, message.task_id))["status"] == "PROCESSING"
    assert await harness.drain(harness.queues.dead_letter["moderate"], wait_s=0) == []
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1


async def test_the_store_says_whether_its_database_answers(harness: Harness) -> None:
    from vidpipe.db.pool import open_pool

    assert await PostgresTaskStore(harness.pool).reachable()
    # A pool that can no longer reach the database (closed here; a stopped server answers the same way)
    gone = await open_pool(harness.settings.db, name="gone")
    await gone.close()
    assert not await PostgresTaskStore(gone).reachable()
