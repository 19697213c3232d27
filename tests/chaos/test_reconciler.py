"""The reconciler rebuilds lost queue messages from Postgres (real Postgres and moto SQS, no models).

Each test puts tasks into the state a crash or a lost message leaves behind, runs one pass, and reads what
arrived on the queues and what the task rows say.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from psycopg.types.json import Jsonb

from vidpipe.messages import JobOptions, ModerateRequest, TranscribeRequest, decode_message
from vidpipe.reconciler import reconcile, stuck_after_s
from vidpipe.testing import create_task_row, pinned_source_key, task_events, task_row

from ..harness import Harness

pytestmark = pytest.mark.integration


async def _age(h: Harness, task_id: uuid.UUID, seconds: int = 3600) -> None:
    """Make the task look idle for `seconds` (updated, heartbeats, events)."""
    async with h.pool.connection() as conn, conn.transaction():
        ago = {"id": task_id, "s": seconds}
        await conn.execute("UPDATE tasks SET updated_at = now() - make_interval(secs => %(s)s) WHERE id = %(id)s", ago)
        await conn.execute(
            "UPDATE stage_runs SET heartbeat_at = now() - make_interval(secs => %(s)s), "
            "finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE now() - make_interval(secs => %(s)s) END "
            "WHERE task_id = %(id)s",
            ago,
        )


async def _add_run(h: Harness, task_id: uuid.UUID, stage: str, state: str, next_message: Any = None) -> None:
    async with h.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO stage_runs (task_id, stage, state, claim_token, next_message) "
            "VALUES (%(t)s, %(s)s, %(st)s, %(c)s, %(n)s)",
            {
                "t": task_id,
                "s": stage,
                "st": state,
                "c": uuid.uuid4(),
                "n": Jsonb(next_message) if next_message else None,
            },
        )
        await conn.execute("UPDATE tasks SET status = 'PROCESSING', current_stage = %(s)s WHERE id = %(t)s",
                           {"t": task_id, "s": stage})  # fmt: skip


async def _messages(h: Harness, stage: str) -> list[Any]:
    found = []
    while batch := await h.drain(h.queues.main[stage], wait_s=0):  # type: ignore[index]
        for message in batch:
            found.append(decode_message(message["Body"]))
            await h.sqs.delete_message(QueueUrl=h.queues.main[stage], ReceiptHandle=message["ReceiptHandle"])  # type: ignore[index]
    return found


async def test_after_a_restart_a_queued_task_gets_its_first_message_rebuilt_with_its_options(harness: Harness) -> None:
    # Given a task the gateway queued (options included) whose message died with the SQS server
    task_id, media_id = await create_task_row(harness.pool, subject="rebuild", object_key="uploads/u/v/talk.mp4")
    async with harness.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE tasks SET current_stage = 'moderate', options = %(o)s WHERE id = %(t)s",
            {"t": task_id, "o": Jsonb(msgspec.to_builtins(JobOptions(language="en", max_speakers=2)))},
        )
    # When the stack starts again
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=0, after_restart=True)
    # Then exactly one moderate message, built as the gateway builds it, waits on the queue: it names the pinned
    # copy, not the upload key (client-writable, and deleted once pinned)
    assert report.resent == [(task_id, "moderate")]
    [message] = await _messages(harness, "moderate")
    assert message == ModerateRequest(
        task_id=task_id,
        media_id=media_id,
        trace_id="test",
        video_key=pinned_source_key(media_id, task_id),
        options=JobOptions(language="en", max_speakers=2),
    )
    assert any(e["kind"] == "queued" and e["detail"].get("requeued") for e in await task_events(harness.pool, task_id))


async def test_a_task_whose_upload_was_never_pinned_fails_instead_of_moderating_the_upload_key(
    harness: Harness,
) -> None:
    # Given start-processing died between creating the task and pinning the upload
    task_id, _ = await create_task_row(
        harness.pool, subject="unpinned", object_key="uploads/u/v/swap.mp4", status="PENDING", pinned=False
    )
    # When the stack restarts
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=0, after_restart=True)
    # Then no message names the key the client can still write to; the task fails with a reason instead, so
    # its owner can start it again
    assert report.resent == [] and report.failed == [task_id]
    assert await _messages(harness, "moderate") == []
    row = await task_row(harness.pool, task_id)
    assert row["status"] == "FAILED" and row["error_code"] == "message_lost"
    assert "start processing again" in row["error_message"]


async def test_a_later_stage_gets_exactly_the_message_the_previous_stage_committed(harness: Harness) -> None:
    # Given moderation completed and committed its outbox, but the transcribe message was lost
    task_id, media_id = await create_task_row(harness.pool, subject="outbox")
    sent = TranscribeRequest(task_id=task_id, media_id=media_id, trace_id="t-1", audio_key="media/a/audio.flac")
    await _add_run(harness, task_id, "moderate", "completed", msgspec.to_builtins(sent))
    async with harness.pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE tasks SET current_stage = 'transcribe' WHERE id = %(t)s", {"t": task_id})
    await _age(harness, task_id)
    # When the periodic sweeper runs
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=60)
    # Then the transcriber's queue has the committed message, byte for byte
    assert report.resent == [(task_id, "transcribe")]
    assert await _messages(harness, "transcribe") == [sent]


async def test_a_live_claim_is_left_alone_by_the_sweeper_but_released_after_a_restart(harness: Harness) -> None:
    # Given a stage a worker claimed and heartbeats right now
    task_id, _ = await create_task_row(harness.pool, subject="live")
    await _add_run(harness, task_id, "moderate", "running")
    # When the periodic sweeper runs: nothing (the worker is alive)
    quiet = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=stuck_after_s(harness.settings))
    assert quiet.resent == [] and await _messages(harness, "moderate") == []
    # When the whole stack restarts (no worker can be alive): the claim is released and the message re-sent
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=0, after_restart=True)
    assert report.released_claims == 1 and report.resent == [(task_id, "moderate")]
    async with harness.pool.connection() as conn:
        run = await (
            await conn.execute("SELECT state FROM stage_runs WHERE task_id = %(t)s", {"t": task_id})
        ).fetchone()
    assert run is not None and run["state"] == "retrying"
    assert len(await _messages(harness, "moderate")) == 1


async def test_a_busy_queue_is_not_topped_up_and_finished_tasks_are_never_touched(harness: Harness) -> None:
    # Given an idle task at moderate while the moderate queue still holds a message, and a finished task
    idle_id, _ = await create_task_row(harness.pool, subject="busy")
    async with harness.pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE tasks SET current_stage = 'moderate' WHERE id = %(t)s", {"t": idle_id})
    done_id, _ = await create_task_row(harness.pool, subject="done", status="COMPLETED")
    await _age(harness, idle_id)
    await _age(harness, done_id)
    await harness.send(await harness.new_task())
    # When the sweeper runs: the waiting message may be this task's, so nothing is added
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=60)
    assert report.busy_stages == ["moderate"] and report.resent == []
    # Once the queue is empty the idle task is repaired; the finished one never is
    await _messages(harness, "moderate")
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=60)
    assert report.resent == [(idle_id, "moderate")]
    # And a second pass right after finds nothing to do (the re-send counts as a sign of life)
    again = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=60)
    assert again.resent == []
    assert (await task_row(harness.pool, done_id))["status"] == "COMPLETED"


async def test_a_task_whose_message_cannot_be_rebuilt_fails_with_a_reason(harness: Harness) -> None:
    # Given a task waiting for transcribe whose previous stage left no outbox (its input is gone)
    task_id, _ = await create_task_row(harness.pool, subject="lost")
    await _add_run(harness, task_id, "moderate", "completed")
    async with harness.pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE tasks SET current_stage = 'transcribe' WHERE id = %(t)s", {"t": task_id})
    # When the stack restarts
    report = await reconcile(harness.pool, harness.sqs, harness.queues, idle_s=0, after_restart=True)
    # Then the task ends FAILED with a readable reason instead of waiting for ever
    assert report.failed == [task_id]
    row = await task_row(harness.pool, task_id)
    assert row["status"] == "FAILED" and row["error_code"] == "message_lost"
    assert "transcribe" in row["error_message"]
