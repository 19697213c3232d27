"""Operators' view of dead letters: `vidpipe dlq list` and `redrive` against real SQS and Postgres."""

from __future__ import annotations

import uuid

from vidpipe.dlq import list_dead_letters, redrive
from vidpipe.messages import ModerateRequest, TranscribeRequest, encode_message
from vidpipe.settings import Settings
from vidpipe.stage import StageContext, StageOutcome
from vidpipe.taskstate import PostgresTaskStore
from vidpipe.taskstore import AbandonedBy
from vidpipe.testing import task_events, task_row

from ..harness import Harness, wait_until


async def test_a_dead_lettered_task_is_listed_then_redriven_and_completes(harness: Harness, settings: Settings) -> None:
    # Given a task failed because its moderate message was dead-lettered (its worker died every time)
    message = await harness.new_task()
    store = PostgresTaskStore(harness.pool)
    assert await store.fail_abandoned(
        message.task_id, "moderate", by=AbandonedBy.DEAD_LETTER, code="dead_lettered", message="m", stale_after_s=60
    )
    await harness.sqs.send_message(QueueUrl=harness.queues.dead_letter["moderate"], MessageBody=encode_message(message))
    await harness.sqs.send_message(
        QueueUrl=harness.queues.dead_letter["moderate"],
        MessageBody="garbage",
        MessageAttributes={"vidpipe_error": {"DataType": "String", "StringValue": "undecodable message"}},
    )

    # When an operator lists the DLQ
    rows = await list_dead_letters(settings, ("moderate",))
    # Then both are shown, and listing hid neither from the depth alarm
    assert sorted((r.task_id == message.task_id, r.unreadable_reason) for r in rows) == [
        (False, "undecodable message"),
        (True, None),
    ]
    assert (await harness.queue_depth(harness.queues.dead_letter["moderate"]))[0] == 2

    # When they redrive it
    result = await redrive(settings, "moderate")
    assert (result.redriven, result.reopened_tasks, result.skipped_unreadable) == (1, 1, 1)
    task = await task_row(harness.pool, message.task_id)
    assert (task["status"], task["error_code"]) == ("PROCESSING", None)

    # Then a worker completes the stage, and only the unreadable body stays in the DLQ
    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        return StageOutcome(
            next_message=TranscribeRequest(task_id=msg.task_id, media_id=msg.media_id, trace_id="t", audio_key="a")
        )

    consumer = harness.consumer(handler)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1)
    assert (await task_row(harness.pool, message.task_id))["current_stage"] == "transcribe"
    kinds = [e["kind"] for e in await task_events(harness.pool, message.task_id)]
    assert kinds == ["failed", "retried", "started", "completed"]
    left = await list_dead_letters(settings, ("moderate",))
    assert [r.unreadable_reason for r in left] == ["undecodable message"]


async def test_redrive_never_reopens_a_task_that_failed_for_its_input(harness: Harness, settings: Settings) -> None:
    message = await harness.new_task()
    store = PostgresTaskStore(harness.pool)
    token = uuid.uuid4()
    await store.claim(message.task_id, "moderate", token, message_id="m", stale_after_s=60, receive_count=1)
    await store.fail_claimed(message.task_id, "moderate", token, code="not_a_video", message="a text file")
    await harness.sqs.send_message(QueueUrl=harness.queues.dead_letter["moderate"], MessageBody=encode_message(message))
    result = await redrive(settings, "moderate")
    assert (result.redriven, result.reopened_tasks) == (1, 0)
    assert (await task_row(harness.pool, message.task_id))["error_code"] == "not_a_video"


async def test_redrive_of_an_older_letter_never_reopens_a_task_at_a_stage_that_completed(
    harness: Harness, settings: Settings
) -> None:
    # Given moderate completed, then the task failed because its transcribe message was dead-lettered
    message = await harness.new_task()
    store = PostgresTaskStore(harness.pool)
    token = uuid.uuid4()
    await store.claim(message.task_id, "moderate", token, message_id="m", stale_after_s=60, receive_count=1)
    next_message = TranscribeRequest(task_id=message.task_id, media_id=message.media_id, trace_id="t", audio_key="a")
    assert await store.complete(message.task_id, "moderate", token, StageOutcome(next_message=next_message), detail={})
    assert await store.fail_abandoned(
        message.task_id, "transcribe", by=AbandonedBy.DEAD_LETTER, code="dead_lettered", message="m", stale_after_s=60
    )
    # When an operator redrives an older moderate letter of that task (a duplicate that was dead-lettered)
    await harness.sqs.send_message(QueueUrl=harness.queues.dead_letter["moderate"], MessageBody=encode_message(message))
    result = await redrive(settings, "moderate")
    # Then the task is not reopened at moderate (its worker would drop the message and the task would stay
    # PROCESSING for ever); it stays FAILED at transcribe, where a transcribe redrive or a retry can pick it up
    assert (result.redriven, result.reopened_tasks) == (1, 0)
    task = await task_row(harness.pool, message.task_id)
    assert (task["status"], task["error_code"], task["current_stage"]) == ("FAILED", "dead_lettered", "transcribe")
