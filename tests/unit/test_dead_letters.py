"""The dead-letter watcher plug-in: fails abandoned stages once, leaves live and finished ones alone."""

from __future__ import annotations

import uuid

from vidpipe.deadletters import DeadLetterWatcher
from vidpipe.memory import InMemoryQueues
from vidpipe.messages import encode_message
from vidpipe.stage import StageOutcome, TaskStatus

from .world import VISIBILITY_S, World


def watcher(world: World) -> DeadLetterWatcher:
    return DeadLetterWatcher(
        stage="moderate",
        queues=InMemoryQueues(world.broker, "moderate"),
        store=world.store,
        every_s=1,
        stale_after_s=VISIBILITY_S,
    )


async def test_a_dead_letter_of_an_abandoned_stage_fails_its_task_and_stays_in_the_dlq(world: World) -> None:
    # Given a worker that claimed the stage and died (no heartbeat since), and SQS dead-lettered the message
    message = world.new_task()
    await world.store.claim(
        message.task_id, "moderate", uuid.uuid4(), message_id="m1", stale_after_s=30, receive_count=4
    )
    world.clock.advance(VISIBILITY_S * 5)
    world.broker.send("moderate-dlq", encode_message(message))
    # When the watcher looks
    assert await watcher(world).look_once() == 1
    # Then the task says why, and the message is still there for a redrive
    task = world.store.tasks[message.task_id]
    assert (task.status, task.error_code) == (TaskStatus.FAILED, "dead_lettered")
    assert "never finished" in (task.error_message or "")
    assert len(world.broker.bodies("moderate-dlq")) == 1
    assert [d["outcome"] for d in world.store.dead_letters.values()] == ["task_failed"]


async def test_a_dead_letter_never_claimed_fails_the_task_waiting_for_that_stage(world: World) -> None:
    message = world.new_task()
    world.broker.send("moderate-dlq", encode_message(message))
    assert await watcher(world).look_once() == 1
    assert world.status(message.task_id) == "FAILED"


async def test_a_dead_letter_whose_stage_is_still_live_is_left_alone(world: World) -> None:
    message = world.new_task()
    await world.store.claim(
        message.task_id, "moderate", uuid.uuid4(), message_id="m1", stale_after_s=30, receive_count=1
    )
    world.broker.send("moderate-dlq", encode_message(message))
    assert await watcher(world).look_once() == 0
    assert world.status(message.task_id) == "PROCESSING"
    assert [d["outcome"] for d in world.store.dead_letters.values()] == ["left_alone"]


async def test_a_dead_letter_of_a_completed_stage_is_left_alone(world: World) -> None:
    message = world.new_task()
    token = uuid.uuid4()
    await world.store.claim(message.task_id, "moderate", token, message_id="m1", stale_after_s=30, receive_count=1)
    await world.store.complete(
        message.task_id, "moderate", token, StageOutcome(final_status=TaskStatus.COMPLETED), detail={}
    )
    world.clock.advance(VISIBILITY_S * 5)
    world.broker.send("moderate-dlq", encode_message(message))
    assert await watcher(world).look_once() == 0
    assert world.status(message.task_id) == "COMPLETED"


async def test_unreadable_bodies_the_consumer_copied_there_are_noted_not_acted_on(world: World) -> None:
    message = world.new_task()
    world.broker.send("moderate-dlq", f'{{"task_id": "{message.task_id}"}}', error="undecodable message")
    assert await watcher(world).look_once() == 0
    assert world.status(message.task_id) == "UPLOAD_COMPLETE"
    assert [d["outcome"] for d in world.store.dead_letters.values()] == ["unreadable"]


async def test_each_dead_letter_is_recorded_once_however_often_it_is_seen(world: World) -> None:
    message = world.new_task()
    world.broker.send("moderate-dlq", encode_message(message))
    first = watcher(world)
    await first.look_once()
    world.clock.advance(60)  # the short look visibility has passed: the letter is visible again
    assert world.broker.depth("moderate-dlq") == (1, 0)
    assert await first.look_once() == 0
    assert len(world.store.dead_letters) == 1
    assert world.store.kinds(message.task_id).count("failed") == 1
