"""The stage runner's rules, in memory: claim → handler → commit → hand-off, and every failure path."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from vidpipe.errors import PermanentError, RetryableError
from vidpipe.messages import ModerateRequest, decode_message
from vidpipe.stage import StageContext, StageOutcome, TaskStatus

from .world import VISIBILITY_S, World, eventually, hand_over, next_of


async def test_a_completed_stage_commits_hands_off_and_deletes_its_delivery(world: World) -> None:
    # Given a task waiting for moderation and a handler that persists a result
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        async def persist(conn: Any) -> None:
            await conn.execute("INSERT result", {"task": msg.task_id})

        return StageOutcome(persist=persist, next_message=next_of(msg))

    consumer = world.consumer(handler)
    world.start(consumer)
    # When it runs
    await eventually(lambda: consumer.processed == 1)
    # Then results, events, the hand-off and the deletion all happened
    assert world.store.persisted.statements == [("INSERT result", {"task": message.task_id})]
    assert world.store.kinds(message.task_id) == ["queued", "started", "completed"]
    assert [decode_message(b) for b in world.broker.bodies("transcribe")] == [next_of(message)]
    assert world.broker.depth("moderate") == (0, 0)
    task = world.store.tasks[message.task_id]
    assert (task.status, task.current_stage) == (TaskStatus.PROCESSING, "transcribe")


async def test_a_final_stage_completes_the_task(world: World) -> None:
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        return StageOutcome(final_status=TaskStatus.COMPLETED)

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    assert world.status(message.task_id) == "COMPLETED"
    assert world.broker.bodies("transcribe") == []


async def test_a_rejection_ends_the_task_with_its_code_and_reason(world: World) -> None:
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        return StageOutcome.reject("rejected_by_moderation", "explicit content at 0:12")

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    task = world.store.tasks[message.task_id]
    assert (task.status, task.error_code, task.error_message) == (
        TaskStatus.REJECTED,
        "rejected_by_moderation",
        "explicit content at 0:12",
    )
    assert world.store.kinds(message.task_id) == ["queued", "started", "completed", "rejected"]


async def test_a_permanent_error_fails_the_task_at_once_and_nothing_is_retried(world: World) -> None:
    calls: list[int] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(ctx.receive_count)
        raise PermanentError("not_a_video", "the upload is a text file, not a video")

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    await asyncio.sleep(0.05)
    assert calls == [1]
    task = world.store.tasks[message.task_id]
    assert (task.status, task.error_code) == (TaskStatus.FAILED, "not_a_video")
    assert world.broker.depth("moderate") == (0, 0)
    assert world.broker.bodies("moderate-dlq") == []


async def test_a_retryable_error_comes_back_after_its_back_off_as_the_next_attempt(world: World) -> None:
    seen: list[tuple[int, int]] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        seen.append((ctx.receive_count, ctx.attempt))
        if len(seen) == 1:
            raise RetryableError("endpoint_down", "the model server did not answer")
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler, retry_base_delay_s=10, retry_max_delay_s=10)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    # Hidden for the back-off (5–10 s): not back before the clock moves
    await asyncio.sleep(0.05)
    assert seen == [(1, 1)]
    world.clock.advance(10)
    await eventually(lambda: consumer.processed == 2)
    assert seen == [(1, 1), (2, 2)]
    assert world.store.kinds(message.task_id) == ["queued", "started", "retried", "started", "completed"]
    retried = next(e for e in world.store.events if e.kind == "retried")
    assert retried.detail["code"] == "endpoint_down"


async def test_on_the_last_delivery_the_task_fails_with_the_reason_and_the_message_is_dead_lettered(
    world: World,
) -> None:
    calls: list[int] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(ctx.receive_count)
        raise ConnectionError("database connection reset")

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: len(calls) == 4)
    await eventually(lambda: world.broker.bodies("moderate-dlq") != [])
    task = world.store.tasks[message.task_id]
    assert calls == [1, 2, 3, 4]
    assert (task.status, task.error_code) == (TaskStatus.FAILED, "retries_exhausted")
    assert "database connection reset" in (task.error_message or "")


async def test_a_duplicate_of_a_completed_stage_does_no_work_and_hands_off_once(world: World) -> None:
    calls: list[int] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    world.send(message)  # at-least-once delivery: the same body again
    await eventually(lambda: consumer.processed == 2)
    assert calls == [1]
    assert len(world.broker.bodies("transcribe")) == 1
    assert world.broker.depth("moderate") == (0, 0)


async def test_a_duplicate_repairs_a_hand_off_lost_between_commit_and_send(world: World) -> None:
    message = world.new_task()
    world.send(message)
    consumer = world.consumer(hand_over)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    # A crash after the commit, before the send: the outbox says "not handed off" and nothing was sent
    world.broker.queues["transcribe"].clear()
    world.store.runs[(message.task_id, "moderate")].handed_off = False
    world.send(message)
    await eventually(lambda: consumer.processed == 2)
    assert [decode_message(b) for b in world.broker.bodies("transcribe")] == [next_of(message)]


async def test_an_unreadable_body_goes_to_the_dlq_with_its_reason(world: World) -> None:
    consumer = world.consumer(hand_over)
    world.send("not json at all")
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    dead = world.broker.queues["moderate-dlq"]
    assert [(d.body, d.error is not None) for d in dead] == [("not json at all", True)]
    assert world.broker.depth("moderate") == (0, 0)


async def test_a_message_for_another_stage_is_treated_as_poison(world: World) -> None:
    message = world.new_task()
    consumer = world.consumer(hand_over, stage="transcribe")
    world.send(message, queue="transcribe")  # a moderate message on the transcribe queue
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    assert world.broker.bodies("transcribe-dlq") != []
    assert world.status(message.task_id) == "UPLOAD_COMPLETE"


async def test_a_poison_body_naming_a_running_task_leaves_it_running_to_completion(world: World) -> None:
    # Given a task whose moderation is running
    release = asyncio.Event()
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await release.wait()
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler, concurrency=2)
    world.start(consumer)
    await eventually(lambda: world.store.kinds(message.task_id)[-1:] == ["started"])
    # When a malformed message naming that task arrives
    poison = f'{{"kind": "moderate", "task_id": "{message.task_id}"}}'
    world.send(poison)
    await eventually(lambda: consumer.processed == 1)
    # Then the task is untouched, the body is in the DLQ, and the real work completes
    assert world.status(message.task_id) == "PROCESSING"
    assert world.broker.bodies("moderate-dlq") == [poison]
    release.set()
    await eventually(lambda: consumer.processed == 2)
    assert world.store.kinds(message.task_id) == ["queued", "started", "completed"]
    assert world.store.tasks[message.task_id].current_stage == "transcribe"


async def test_a_poison_body_naming_a_task_still_queued_leaves_it_alone(world: World) -> None:
    message = world.new_task()
    world.send(f'{{"kind": "moderate", "task_id": "{message.task_id}", "video_key": 42}}')
    consumer = world.consumer(hand_over)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    assert world.status(message.task_id) == "UPLOAD_COMPLETE"
    # and its real message is still processed normally afterwards
    world.send(message)
    await eventually(lambda: consumer.processed == 2)
    assert world.store.tasks[message.task_id].current_stage == "transcribe"


async def test_a_poison_body_naming_an_abandoned_stage_fails_its_task_visibly(world: World) -> None:
    # Given a stage whose worker died: claimed, then no heartbeat for longer than the visibility timeout
    message = world.new_task()
    import uuid

    await world.store.claim(
        message.task_id, "moderate", uuid.uuid4(), message_id="m", stale_after_s=30, receive_count=1
    )
    world.clock.advance(VISIBILITY_S + 1)
    world.send(f'{{"kind": "moderate", "task_id": "{message.task_id}"}}')
    consumer = world.consumer(hand_over)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    task = world.store.tasks[message.task_id]
    assert (task.status, task.error_code) == (TaskStatus.FAILED, "poison_message")


async def test_a_second_message_for_a_running_stage_is_dropped_and_never_reaches_the_dlq(world: World) -> None:
    # Given a stage that runs for longer than four visibility timeouts
    release = asyncio.Event()
    calls: list[int] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        await release.wait()
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler, concurrency=2)
    world.start(consumer)
    await eventually(lambda: calls == [1])
    # When a duplicate message for the same stage arrives and time passes (heartbeats keep the claim live)
    world.send(message)
    for _ in range(10):  # five visibility timeouts, in steps the 10 ms heartbeat keeps up with
        world.clock.advance(VISIBILITY_S / 2)
        await asyncio.sleep(0.03)
    assert consumer.processed == 1
    # Then the duplicate was dropped at once: no second run, nothing dead-lettered, the task completes once
    assert world.broker.bodies("moderate-dlq") == []
    release.set()
    await eventually(lambda: consumer.processed == 2)
    assert calls == [1]
    assert world.store.kinds(message.task_id) == ["queued", "started", "completed"]
    assert len(world.broker.bodies("transcribe")) == 1


async def test_a_redelivery_of_the_holders_own_message_is_kept_hidden_not_deleted(world: World) -> None:
    import uuid

    message = world.new_task()
    message_id = world.send(message)
    # Another worker holds a live claim that came from this very message
    await world.store.claim(
        message.task_id, "moderate", uuid.uuid4(), message_id=message_id, stale_after_s=30, receive_count=1
    )
    consumer = world.consumer(hand_over)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    assert world.broker.depth("moderate") == (0, 1)  # still there, hidden for the holder


async def test_a_scratch_directory_that_cannot_be_made_releases_the_delivery_for_a_retry(world: World) -> None:
    calls: list[int] = []
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        calls.append(1)
        return await hand_over(msg, ctx)

    consumer = world.consumer(
        handler, workdir="/nonexistent/vidpipe-scratch", retry_base_delay_s=10, retry_max_delay_s=10
    )
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    await asyncio.sleep(0.05)
    # The handler never ran; the task says why; the delivery comes back after its back-off, not hidden forever
    assert calls == []
    retried = [e for e in world.store.events if e.kind == "retried"]
    assert [e.detail["code"] for e in retried] == ["workdir_unavailable"]
    assert "scratch directory" in retried[0].detail["message"]
    assert world.store.runs[(message.task_id, "moderate")].state == "retrying"
    world.clock.advance(10)
    await eventually(lambda: consumer.processed == 2)
    assert world.store.kinds(message.task_id).count("started") == 2


async def test_the_heartbeat_keeps_a_long_job_hidden_and_its_claim_fresh(world: World) -> None:
    release = asyncio.Event()
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await release.wait()
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: world.store.kinds(message.task_id)[-1:] == ["started"])
    for _ in range(3):
        world.clock.advance(VISIBILITY_S * 2)
        await asyncio.sleep(0.05)  # a heartbeat runs every 10 ms
        assert world.broker.depth("moderate") == (0, 1)
        assert world.store.runs[(message.task_id, "moderate")].heartbeat_at >= world.clock() - VISIBILITY_S
    release.set()
    await eventually(lambda: consumer.processed == 1)


async def test_events_of_a_stage_are_in_order_even_with_progress_from_an_engine_thread(world: World) -> None:
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        report = ctx.progress_from_thread()

        def engine() -> None:
            for i in range(5):
                report(i / 5, f"step {i}")

        await ctx.run_blocking(engine)
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    kinds = world.store.kinds(message.task_id)
    assert kinds == ["queued", "started", *["progress"] * 5, "completed"]
    fractions = [e.progress for e in world.store.events if e.kind == "progress"]
    assert fractions == sorted(fractions)


async def test_progress_reported_after_the_stage_completed_is_not_recorded(world: World) -> None:
    message = world.new_task()
    world.send(message)
    late: list[Any] = []

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        late.append(ctx)
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 1)
    await late[0].progress(0.9, "a straggler")
    assert world.store.kinds(message.task_id)[-1] == "completed"


async def test_a_lost_claim_discards_results_and_the_takeover_wins(world: World) -> None:
    import uuid

    release = asyncio.Event()
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        await release.wait()
        return StageOutcome(final_status=TaskStatus.COMPLETED)

    consumer = world.consumer(handler, heartbeat_interval_s=3600)  # no heartbeat: the claim goes stale
    world.start(consumer)
    await eventually(lambda: world.store.kinds(message.task_id)[-1:] == ["started"])
    world.clock.advance(VISIBILITY_S + 1)
    other = uuid.uuid4()
    taken = await world.store.claim(
        message.task_id, "moderate", other, message_id="x", stale_after_s=30, receive_count=2
    )
    assert taken.attempt == 2
    release.set()
    await eventually(lambda: consumer.processed >= 1)
    assert world.status(message.task_id) == "PROCESSING"  # the first worker's result was not committed
    assert world.store.kinds(message.task_id).count("completed") == 0


async def test_the_engine_limit_caps_concurrency_whatever_the_worker_setting(world: World) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        await asyncio.sleep(0.02)
        with lock:
            running -= 1
        return await hand_over(msg, ctx)

    for _ in range(4):
        world.send(world.new_task())
    consumer = world.consumer(handler, concurrency=4, max_concurrency=1)
    world.start(consumer)
    await eventually(lambda: consumer.processed == 4)
    assert consumer.concurrency == 1
    assert peak == 1


async def test_stop_lets_the_running_job_finish_and_releases_prefetched_deliveries(world: World) -> None:
    started = asyncio.Event()
    finish = asyncio.Event()
    handled: list[Any] = []

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        started.set()
        await finish.wait()
        handled.append(msg.task_id)
        return await hand_over(msg, ctx)

    for _ in range(3):
        world.send(world.new_task())
    consumer = world.consumer(handler, concurrency=1, prefetch=2)
    stop = world.start(consumer)
    await asyncio.wait_for(started.wait(), 2)
    await eventually(lambda: consumer.buffer.buffered == 2)
    stop.set()
    await asyncio.sleep(0.02)
    finish.set()
    await asyncio.wait_for(world.running[-1][1], 3)
    assert len(handled) == 1
    assert world.broker.depth("moderate") == (2, 0)


async def test_a_job_outliving_the_grace_period_is_cut_short_and_its_claim_released(world: World) -> None:
    started = asyncio.Event()
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    consumer = world.consumer(handler, shutdown_grace_s=0.05)
    stop = world.start(consumer)
    await asyncio.wait_for(started.wait(), 2)
    stop.set()
    await asyncio.wait_for(world.running[-1][1], 2)
    assert world.broker.depth("moderate") == (1, 0)
    assert world.store.kinds(message.task_id)[-1] == "retried"
    assert world.store.runs[(message.task_id, "moderate")].state == "retrying"


async def test_the_stage_default_grace_applies_when_the_setting_is_unset(world: World) -> None:
    consumer = world.consumer(hand_over, shutdown_grace_s=None)
    assert consumer.shutdown_grace_s == 60.0
    from vidpipe.consumer import Consumer
    from vidpipe.memory import InMemoryQueues

    from .world import fast_settings

    long_stage = Consumer(
        stage="summarize",
        handler=hand_over,
        settings=fast_settings(shutdown_grace_s=None),
        stage_queues=InMemoryQueues(world.broker, "summarize"),
        store=world.store,
        shutdown_grace_s=900.0,
    )
    assert long_stage.shutdown_grace_s == 900.0


async def test_scale_in_protection_is_held_while_busy_and_dropped_when_idle(world: World) -> None:
    changes: list[bool] = []

    class Guard:
        async def set_protected(self, protected: bool) -> None:
            changes.append(protected)

    release = asyncio.Event()
    message = world.new_task()
    world.send(message)

    async def handler(msg: ModerateRequest, ctx: StageContext) -> StageOutcome:
        assert changes[-1] is True  # protected before any work
        await release.wait()
        return await hand_over(msg, ctx)

    consumer = world.consumer(handler)
    consumer.scale_in_guard = Guard()
    world.start(consumer)
    await eventually(lambda: True in changes)
    await asyncio.sleep(0.1)
    assert changes[-1] is True  # still busy: never dropped mid-job
    release.set()
    await eventually(lambda: consumer.processed == 1 and changes[-1] is False)


async def test_a_database_outage_pauses_receiving_so_it_cannot_dead_letter_a_healthy_task(world: World) -> None:
    # Given a task waiting for moderation while the database is down
    message = world.new_task()
    world.send(message)
    world.store.unreachable = True
    consumer = world.consumer(hand_over)
    world.start(consumer)
    # When the worker receives it, its claim fails (the delivery goes back after the visibility timeout) and
    # the worker stops receiving
    await eventually(lambda: consumer.processed == 1 and consumer.buffer.receiving_paused)
    # Then, however many visibility timeouts the outage lasts, the worker does not receive it again (each
    # receive counts toward the dead-letter limit of 4)
    for _ in range(6):
        world.clock.advance(VISIBILITY_S + 1)
        await asyncio.sleep(0.02)
    assert consumer.processed == 1
    assert world.broker.bodies("moderate-dlq") == []
    # And once the database answers again, the task runs and moves on
    world.store.unreachable = False
    await eventually(lambda: world.store.tasks[message.task_id].current_stage == "transcribe", timeout_s=5)
    assert consumer.processed == 2 and not consumer.buffer.receiving_paused
