"""The consumer loop against a real SQS API (moto server) and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import AsyncConnection

from vidpipe.errors import PermanentError, RetryableError
from vidpipe.messages import ModerateRequest, TranscribeRequest, decode_message, encode_message
from vidpipe.settings import Settings
from vidpipe.stage import StageContext, StageOutcome
from vidpipe.testing import task_events, task_row

from ..harness import Harness, assert_events_in_order, wait_until


def transcribe_next(message: ModerateRequest) -> TranscribeRequest:
    return TranscribeRequest(
        task_id=message.task_id,
        media_id=message.media_id,
        trace_id=message.trace_id,
        audio_key="audio/x.flac",
    )


async def stored_results(harness: Harness, task_id: Any) -> list[dict[str, Any]]:
    async with harness.pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM moderation_results WHERE task_id = %s", (task_id,))
        return list(await cursor.fetchall())


def persist_result(
    message: ModerateRequest, observed: list[tuple[int, int]] | None = None, harness: Harness | None = None
):
    async def persist(conn: AsyncConnection[Any]) -> None:
        if observed is not None and harness is not None:
            # While the results are being written, the delivery must still be in the queue (in flight).
            observed.append(await harness.queue_depth(harness.queues.main["moderate"]))
        await conn.execute(
            "INSERT INTO moderation_results (task_id, media_id, verdict, model) VALUES (%s, %s, 'allowed', 'test')",
            (message.task_id, message.media_id),
        )

    return persist


async def test_delivery_is_deleted_only_after_results_commit_and_next_message_is_sent(
    harness: Harness,
) -> None:
    # Given a handler that stores a result and hands over to the transcriber
    observed: list[tuple[int, int]] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        return StageOutcome(persist=persist_result(message, observed, harness), next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)

    # When it has processed the message
    await wait_until(lambda: consumer.processed == 1)

    # Then the delivery was in flight while results were written, and is gone now
    assert observed == [(0, 1)]
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)
    assert len(await stored_results(harness, message.task_id)) == 1
    handed = await harness.drain(harness.queues.main["transcribe"])
    assert [decode_message(m["Body"]) for m in handed] == [transcribe_next(message)]
    task = await task_row(harness.pool, message.task_id)
    assert (task["status"], task["current_stage"]) == ("PROCESSING", "transcribe")
    kinds = [e["kind"] for e in await task_events(harness.pool, message.task_id)]
    assert kinds == ["started", "completed"]


async def test_failed_commit_keeps_the_delivery_and_nothing_is_half_written(harness: Harness) -> None:
    # Given a handler whose results violate a constraint at commit time on the first delivery only
    calls: list[int] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(ctx.receive_count)

        async def persist(conn: AsyncConnection[Any]) -> None:
            verdict = "bogus" if len(calls) == 1 else "allowed"
            await conn.execute(
                "INSERT INTO moderation_results (task_id, media_id, verdict, model) VALUES (%s, %s, %s, 't')",
                (message.task_id, message.media_id, verdict),
            )

        return StageOutcome(persist=persist, next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    settings = harness.settings.model_copy(
        update={"worker": harness.settings.worker.model_copy(update={"visibility_timeout_s": 2})}
    )
    consumer = harness.consumer(handler, settings)
    harness.start(consumer)

    # When the first commit fails, the delivery comes back after its visibility timeout and succeeds
    await wait_until(lambda: len(calls) == 2, timeout_s=30)
    await wait_until(lambda: consumer.processed == 2)

    # Then exactly one result exists and one message went to the next stage
    assert calls == [1, 2]
    assert len(await stored_results(harness, message.task_id)) == 1
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1


async def test_retryable_error_is_redelivered_with_higher_receive_count(harness: Harness) -> None:
    seen: list[tuple[int, int]] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        seen.append((ctx.receive_count, ctx.attempt))
        if len(seen) == 1:
            raise RetryableError("endpoint_down", "the model server did not answer")
        return StageOutcome(next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 2)

    assert seen == [(1, 1), (2, 2)]
    events = await task_events(harness.pool, message.task_id)
    assert [e["kind"] for e in events] == ["started", "retried", "started", "completed"]
    assert events[1]["detail"]["code"] == "endpoint_down"
    assert (await task_row(harness.pool, message.task_id))["status"] == "PROCESSING"


async def test_after_max_receive_count_the_message_is_in_the_dlq_and_the_task_failed(
    harness: Harness, settings: Settings
) -> None:
    # The queue was provisioned with max_receive_count 4 (the default); the worker agrees with it.
    calls: list[int] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(ctx.receive_count)
        raise ConnectionError("database connection reset")

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)

    await wait_until(lambda: len(calls) == settings.worker.max_receive_count, timeout_s=30)
    dead: list[dict[str, Any]] = []

    async def in_dlq() -> bool:
        dead.extend(await harness.drain(harness.queues.dead_letter["moderate"]))
        return bool(dead)

    await wait_until(in_dlq, timeout_s=30)
    assert calls == [1, 2, 3, 4]
    assert decode_message(dead[0]["Body"]) == message
    task = await task_row(harness.pool, message.task_id)
    assert task["status"] == "FAILED"
    assert task["error_code"] == "retries_exhausted"
    assert "database connection reset" in task["error_message"]


async def test_permanent_error_fails_the_task_at_once_without_retry(harness: Harness) -> None:
    calls: list[int] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        raise PermanentError("not_a_video", "the upload is a text file, not a video")

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1)
    await asyncio.sleep(1.5)  # a retry, had there been one, would have arrived by now (back-off is 0 here)

    assert calls == [1]
    task = await task_row(harness.pool, message.task_id)
    assert (task["status"], task["error_code"]) == ("FAILED", "not_a_video")
    assert task["error_message"] == "the upload is a text file, not a video"
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)
    assert await harness.drain(harness.queues.dead_letter["moderate"], wait_s=0) == []


async def test_duplicate_delivery_of_a_completed_stage_does_no_work(harness: Harness) -> None:
    calls: list[int] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        return StageOutcome(persist=persist_result(message), next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1)
    # SQS at-least-once: the same body arrives again
    await harness.send(message)
    await wait_until(lambda: consumer.processed == 2)

    assert calls == [1]
    assert len(await stored_results(harness, message.task_id)) == 1
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1  # handed over once only
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)


async def test_duplicate_delivery_repairs_a_hand_off_lost_in_a_crash(harness: Harness) -> None:
    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        return StageOutcome(next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1)
    # Simulate a crash after the commit and before the send: the outbox says "not handed off"
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1
    async with harness.pool.connection() as conn:
        await conn.execute("UPDATE stage_runs SET handed_off_at = NULL WHERE task_id = %s", (message.task_id,))
    await harness.send(message)
    await wait_until(lambda: consumer.processed == 2)

    handed = await harness.drain(harness.queues.main["transcribe"])
    assert [decode_message(m["Body"]) for m in handed] == [transcribe_next(message)]


async def test_heartbeat_keeps_a_long_job_invisible_past_the_visibility_timeout(harness: Harness) -> None:
    settings = harness.settings.model_copy(
        update={
            "worker": harness.settings.worker.model_copy(
                update={"visibility_timeout_s": 2, "heartbeat_interval_s": 0.5}
            )
        }
    )
    calls: list[int] = []
    release = asyncio.Event()

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        await release.wait()
        return StageOutcome(next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    consumer = harness.consumer(handler, settings)
    harness.start(consumer)
    await wait_until(lambda: calls == [1])

    # Three visibility timeouts pass while the handler runs: nobody else may receive the message
    for _ in range(3):
        assert await harness.drain(harness.queues.main["moderate"], wait_s=2) == []
    release.set()
    await wait_until(lambda: consumer.processed == 1)
    assert calls == [1]
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)


async def test_stop_lets_the_running_handler_finish_and_releases_prefetched_messages(
    harness: Harness,
) -> None:
    settings = harness.settings.model_copy(
        update={"worker": harness.settings.worker.model_copy(update={"concurrency": 1, "prefetch": 2})}
    )
    started = asyncio.Event()
    finish = asyncio.Event()
    handled: list[Any] = []

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        started.set()
        await finish.wait()
        handled.append(message.task_id)
        return StageOutcome(next_message=transcribe_next(message))

    messages = [await harness.new_task() for _ in range(3)]
    for message in messages:
        await harness.send(message)
    consumer = harness.consumer(handler, settings)
    stop = harness.start(consumer)
    await asyncio.wait_for(started.wait(), timeout=20)
    await wait_until(lambda: consumer.buffer.buffered == 2)

    # When the worker is told to stop while one handler runs and two messages wait in its buffer
    stop.set()
    await asyncio.sleep(0.5)
    finish.set()
    await asyncio.wait_for(harness.running[-1][1], timeout=20)

    # Then the running one finished and was deleted, and the other two are visible again at once
    assert len(handled) == 1
    released = await harness.drain(harness.queues.main["moderate"])
    assert len(released) == 2
    assert {decode_message(m["Body"]).task_id for m in released} | set(handled) == {m.task_id for m in messages}


async def test_poison_messages_go_to_the_dlq_and_leave_a_queued_task_alone(harness: Harness) -> None:
    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        raise AssertionError("a poison message must never reach the handler")

    message = await harness.new_task()
    garbled = f'{{"kind": "moderate", "task_id": "{message.task_id}", "video_key": 42}}'
    await harness.send(garbled)
    await harness.send("not json at all")
    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 2)

    dead = await harness.drain(harness.queues.dead_letter["moderate"])
    dead += await harness.drain(harness.queues.dead_letter["moderate"], wait_s=0)
    assert sorted(m["Body"] for m in dead) == sorted([garbled, "not json at all"])
    assert all("vidpipe_error" in m["MessageAttributes"] for m in dead)
    # The task's real message may still be on its way: a stray body must not fail it
    assert (await task_row(harness.pool, message.task_id))["status"] == "UPLOAD_COMPLETE"
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)


async def test_a_poison_body_naming_a_running_task_does_not_stop_it_completing(harness: Harness) -> None:
    # Given a task whose moderation is running on a worker
    release = asyncio.Event()

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await release.wait()
        return StageOutcome(persist=persist_result(message), next_message=transcribe_next(message))

    message = await harness.new_task()
    await harness.send(message)
    settings = harness.settings.model_copy(
        update={"worker": harness.settings.worker.model_copy(update={"concurrency": 2})}
    )
    consumer = harness.consumer(handler, settings)
    harness.start(consumer)

    async def started() -> bool:
        return [e["kind"] for e in await task_events(harness.pool, message.task_id)] == ["started"]

    await wait_until(started)
    # When a malformed message naming that live task arrives (the reproduced attack)
    poison = f'{{"kind": "moderate", "task_id": "{message.task_id}"}}'
    await harness.send(poison)
    await wait_until(lambda: consumer.processed == 1)
    release.set()
    await wait_until(lambda: consumer.processed == 2)

    # Then the task went on, its stage completed, and the body waits in the DLQ
    task = await task_row(harness.pool, message.task_id)
    assert (task["status"], task["current_stage"], task["error_code"]) == ("PROCESSING", "transcribe", None)
    assert [e["kind"] for e in await task_events(harness.pool, message.task_id)] == ["started", "completed"]
    assert [m["Body"] for m in await harness.drain(harness.queues.dead_letter["moderate"])] == [poison]


async def test_progress_events_are_recorded_and_notified(harness: Harness, settings: Settings) -> None:
    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await ctx.progress(0.5, "half way")
        await ctx.progress(0.6, "throttled away")  # within progress_min_interval_s of the previous one
        return StageOutcome(next_message=transcribe_next(message))

    message = await harness.new_task()
    async with await psycopg.AsyncConnection.connect(settings.db.url.get_secret_value(), autocommit=True) as listener:
        await listener.execute("LISTEN vidpipe_task_events")
        await harness.send(message)
        consumer = harness.consumer(handler)
        harness.start(consumer)
        await wait_until(lambda: consumer.processed == 1)
        notified = []
        async for note in listener.notifies(timeout=1):
            notified.append(note.payload)
    events = await task_events(harness.pool, message.task_id)
    assert_events_in_order(events)
    assert [(e["kind"], e["progress"]) for e in events] == [
        ("started", None),
        ("progress", 0.5),
        ("completed", 1.0),
    ]
    assert events[1]["detail"] == {"detail": "half way"}
    assert len(notified) == 3 and all(str(message.task_id) in n for n in notified)


async def test_a_task_whose_message_was_dead_lettered_behind_the_workers_back_is_failed(harness: Harness) -> None:
    # Given a message SQS moved to the DLQ itself (the worker was killed on its last delivery)
    message = await harness.new_task()
    await harness.sqs.send_message(QueueUrl=harness.queues.dead_letter["moderate"], MessageBody=encode_message(message))
    settings = harness.settings.model_copy(
        update={"worker": harness.settings.worker.model_copy(update={"dead_letter_check_s": 0.5})}
    )

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        raise AssertionError("dead-lettered messages are not processed")

    # When a worker of that stage runs
    harness.start(harness.consumer(handler, settings))

    # Then the task shows FAILED with the reason, and the message stays in the DLQ for a redrive
    async def failed() -> bool:
        return (await task_row(harness.pool, message.task_id))["status"] == "FAILED"

    await wait_until(failed, timeout_s=20)
    task = await task_row(harness.pool, message.task_id)
    assert task["error_code"] == "dead_lettered"
    assert "never finished" in task["error_message"]
    visible, hidden = await harness.queue_depth(harness.queues.dead_letter["moderate"])
    assert visible + hidden == 1


async def test_a_handler_still_running_after_the_grace_period_is_cut_short_and_its_message_released(
    harness: Harness,
) -> None:
    settings = harness.settings.model_copy(
        update={"worker": harness.settings.worker.model_copy(update={"concurrency": 1, "shutdown_grace_s": 1})}
    )
    started = asyncio.Event()

    async def handler(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        started.set()
        await asyncio.sleep(3600)  # a job far longer than the grace period
        raise AssertionError("unreachable")

    message = await harness.new_task()
    await harness.send(message)
    stop = harness.start(harness.consumer(handler, settings))
    await asyncio.wait_for(started.wait(), timeout=20)

    # When the worker is stopped, it gives up after the grace period instead of waiting for the job
    began = asyncio.get_running_loop().time()
    stop.set()
    await asyncio.wait_for(harness.running[-1][1], timeout=15)
    assert asyncio.get_running_loop().time() - began < 5

    # Then the message is visible again at once and the stage can be claimed by the next worker
    released = await harness.drain(harness.queues.main["moderate"])
    assert [decode_message(m["Body"]) for m in released] == [message]
    events = await task_events(harness.pool, message.task_id)
    assert [e["kind"] for e in events] == ["started", "retried"]
    assert events[-1]["detail"]["code"] == "worker_shutdown"
