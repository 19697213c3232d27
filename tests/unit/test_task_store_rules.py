"""The task store's guards (kept identically by the Postgres store; see tests/core for the same on Postgres)."""

from __future__ import annotations

import uuid

import pytest

from vidpipe.memory import InMemoryTaskStore, ManualClock
from vidpipe.stage import StageOutcome, TaskStatus
from vidpipe.taskstore import AbandonedBy, ClaimResult


@pytest.fixture
def store() -> InMemoryTaskStore:
    return InMemoryTaskStore(ManualClock())


async def claimed(store: InMemoryTaskStore) -> tuple[uuid.UUID, uuid.UUID]:
    task_id = store.add_task()
    token = uuid.uuid4()
    claim = await store.claim(task_id, "moderate", token, message_id="m", stale_after_s=30, receive_count=1)
    assert claim.result is ClaimResult.CLAIMED
    return task_id, token


async def test_only_the_claim_holder_can_fail_a_stage(store: InMemoryTaskStore) -> None:
    task_id, _ = await claimed(store)
    assert not await store.fail_claimed(task_id, "moderate", uuid.uuid4(), code="x", message="y")
    assert store.tasks[task_id].status is TaskStatus.PROCESSING


async def test_a_completed_stage_can_never_become_failed(store: InMemoryTaskStore) -> None:
    task_id, token = await claimed(store)
    done = StageOutcome(final_status=TaskStatus.COMPLETED)
    assert await store.complete(task_id, "moderate", token, done, detail={})
    assert not await store.fail_claimed(task_id, "moderate", token, code="x", message="y")
    assert not await store.fail_abandoned(
        task_id, "moderate", by=AbandonedBy.DEAD_LETTER, code="x", message="y", stale_after_s=0
    )
    assert store.runs[(task_id, "moderate")].state == "completed"
    assert store.tasks[task_id].status is TaskStatus.COMPLETED


async def test_a_second_claim_while_the_first_is_live_is_held_elsewhere(store: InMemoryTaskStore) -> None:
    task_id, _ = await claimed(store)
    second = await store.claim(task_id, "moderate", uuid.uuid4(), message_id="n", stale_after_s=30, receive_count=1)
    assert (second.result, second.holder_message_id) == (ClaimResult.HELD_ELSEWHERE, "m")


async def test_a_stale_claim_is_taken_over_as_the_next_attempt(store: InMemoryTaskStore) -> None:
    task_id, old = await claimed(store)
    store.clock.advance(31)
    new = uuid.uuid4()
    claim = await store.claim(task_id, "moderate", new, message_id="n", stale_after_s=30, receive_count=2)
    assert (claim.result, claim.attempt) == (ClaimResult.CLAIMED, 2)
    assert not await store.heartbeat(task_id, "moderate", old)
    assert await store.heartbeat(task_id, "moderate", new)


@pytest.mark.parametrize(
    ("by", "state", "stale", "fails"),
    [
        (AbandonedBy.UNREADABLE, "running", False, False),
        (AbandonedBy.UNREADABLE, "running", True, True),
        (AbandonedBy.UNREADABLE, "retrying", False, False),
        (AbandonedBy.DEAD_LETTER, "running", False, False),
        (AbandonedBy.DEAD_LETTER, "running", True, True),
        (AbandonedBy.DEAD_LETTER, "retrying", False, True),
    ],
)
async def test_an_abandoned_stage_fails_only_without_a_live_claim(
    store: InMemoryTaskStore, by: AbandonedBy, state: str, stale: bool, fails: bool
) -> None:
    task_id, token = await claimed(store)
    if state == "retrying":
        await store.retry(task_id, "moderate", token, code="c", message="m", delay_s=0, receive_count=1)
    if stale:
        store.clock.advance(31)
    failed = await store.fail_abandoned(task_id, "moderate", by=by, code="gone", message="m", stale_after_s=30)
    assert failed is fails
    assert (store.tasks[task_id].status is TaskStatus.FAILED) is fails


@pytest.mark.parametrize(("by", "fails"), [(AbandonedBy.DEAD_LETTER, True), (AbandonedBy.UNREADABLE, False)])
async def test_a_never_claimed_stage_fails_only_for_a_dead_letter(
    store: InMemoryTaskStore, by: AbandonedBy, fails: bool
) -> None:
    task_id = store.add_task()
    assert await store.fail_abandoned(task_id, "moderate", by=by, code="c", message="m", stale_after_s=30) is fails


async def test_a_finished_task_never_changes_again(store: InMemoryTaskStore) -> None:
    task_id, token = await claimed(store)
    assert await store.fail_claimed(task_id, "moderate", token, code="bad", message="bad input")
    again = await store.claim(task_id, "moderate", uuid.uuid4(), message_id="n", stale_after_s=0, receive_count=2)
    assert again.result is ClaimResult.NOT_RUNNABLE
    assert store.tasks[task_id].error_code == "bad"


async def test_progress_is_refused_once_the_claim_is_gone(store: InMemoryTaskStore) -> None:
    task_id, token = await claimed(store)
    assert await store.record_progress(task_id, "moderate", token, attempt=1, fraction=0.5, detail={})
    await store.retry(task_id, "moderate", token, code="c", message="m", delay_s=0, receive_count=1)
    assert not await store.record_progress(task_id, "moderate", token, attempt=1, fraction=0.6, detail={})
    assert store.kinds(task_id) == ["queued", "started", "progress", "retried"]


async def test_a_dead_letter_is_recorded_once(store: InMemoryTaskStore) -> None:
    assert await store.record_dead_letter("m", "moderate", None, outcome="left_alone", reason="", body="{}")
    assert not await store.record_dead_letter("m", "moderate", None, outcome="task_failed", reason="", body="{}")
