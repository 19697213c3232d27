"""Pure contracts: retry policy, stage outcomes, messages and the in-memory broker's SQS rules."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from vidpipe.memory import InMemoryBroker, ManualClock
from vidpipe.messages import (
    ModerateRequest,
    SummarizeRequest,
    TranscribeRequest,
    decode_message,
    encode_message,
    salvage_task_id,
    stage_of,
)
from vidpipe.retry import RetryPolicy
from vidpipe.stage import StageOutcome, TaskStatus

POLICY = RetryPolicy(max_receive_count=4, base_delay_s=5, max_delay_s=300)


@pytest.mark.parametrize(("receive_count", "low", "high"), [(1, 2, 5), (2, 5, 10), (3, 10, 20), (7, 150, 300)])
def test_back_off_grows_exponentially_within_its_jitter(receive_count: int, low: int, high: int) -> None:
    delays = {POLICY.delay_s(receive_count) for _ in range(50)}
    assert all(low <= d <= high for d in delays)


def test_back_off_never_exceeds_what_sqs_accepts() -> None:
    huge = RetryPolicy(max_receive_count=4, base_delay_s=10**6, max_delay_s=10**7)
    assert huge.delay_s(30) <= 43200


@pytest.mark.parametrize(("receive_count", "gives_up"), [(1, False), (3, False), (4, True), (5, True)])
def test_the_policy_gives_up_on_the_queues_last_delivery(receive_count: int, gives_up: bool) -> None:
    assert POLICY.gives_up(receive_count) is gives_up


def _next() -> TranscribeRequest:
    return TranscribeRequest(task_id=uuid.uuid4(), media_id=uuid.uuid4(), trace_id="t", audio_key="a")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"next_message": _next(), "final_status": TaskStatus.COMPLETED},
        {"final_status": TaskStatus.FAILED},
        {"final_status": TaskStatus.REJECTED},
    ],
)
def test_an_outcome_must_say_exactly_what_comes_next(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"outcome|stage|REJECTED"):
        StageOutcome(**kwargs)  # type: ignore[arg-type]


def test_a_rejection_carries_its_code_and_reason() -> None:
    outcome = StageOutcome.reject("rejected_by_moderation", "nudity at 0:12", detail={"frames": 3})
    assert outcome.final_status is TaskStatus.REJECTED
    assert outcome.rejection is not None and outcome.rejection.as_detail() == {
        "code": "rejected_by_moderation",
        "reason": "nudity at 0:12",
    }
    assert outcome.detail == {"frames": 3}


def test_the_outbox_form_of_the_next_message_decodes_back_to_it() -> None:
    message = _next()
    outcome = StageOutcome(next_message=message)
    assert decode_message(msgspec.json.encode(outcome.next_message_json())) == message


IDS = {"task_id": uuid.uuid4(), "media_id": uuid.uuid4(), "trace_id": "t"}
MESSAGES = [
    ModerateRequest(**IDS, video_key="v"),  # type: ignore[arg-type]
    TranscribeRequest(**IDS, audio_key="a"),  # type: ignore[arg-type]
    SummarizeRequest(**IDS, transcript_id=uuid.uuid4()),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("message", "stage"), list(zip(MESSAGES, ["moderate", "transcribe", "summarize"], strict=True))
)
def test_each_hop_round_trips_and_names_its_stage(message: object, stage: str) -> None:
    body = encode_message(message)  # type: ignore[arg-type]
    assert decode_message(body) == message
    assert stage_of(decode_message(body)) == stage


@pytest.mark.parametrize(
    "body",
    ['{"kind": "moderate"}', '{"kind": "moderate", "task_id": "x"}', '{"kind": "unknown"}', "[]", "not json"],
)
def test_bodies_that_are_not_a_whole_message_are_refused(body: str) -> None:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        decode_message(body)


def test_a_task_id_is_salvaged_from_a_broken_body_when_it_is_there() -> None:
    task_id = uuid.uuid4()
    assert salvage_task_id(f'{{"kind": "moderate", "task_id": "{task_id}", "video_key": 1}}') == task_id
    assert salvage_task_id('{"task_id": "not-a-uuid"}') is None
    assert salvage_task_id("garbage") is None


async def test_the_broker_dead_letters_a_message_after_max_receives() -> None:
    clock = ManualClock()
    broker = InMemoryBroker(clock, max_receive_count=2)
    broker.send("moderate", "body")
    for _ in range(2):
        assert len(await broker.receive("moderate", 10, wait_s=0, visibility_s=5)) == 1
        clock.advance(6)
    assert await broker.receive("moderate", 10, wait_s=0, visibility_s=5) == []
    assert broker.bodies("moderate-dlq") == ["body"]


async def test_only_the_latest_receipt_handle_deletes() -> None:
    clock = ManualClock()
    broker = InMemoryBroker(clock)
    broker.send("moderate", "body")
    first = (await broker.receive("moderate", 1, wait_s=0, visibility_s=5))[0]
    clock.advance(6)
    second = (await broker.receive("moderate", 1, wait_s=0, visibility_s=5))[0]
    broker.delete("moderate", first.receipt_handle)
    assert broker.depth("moderate") == (0, 1)
    broker.delete("moderate", second.receipt_handle)
    assert broker.depth("moderate") == (0, 0)
    assert second.receive_count == 2 and second.message_id == first.message_id


def _event(kind: str, stage: str | None, attempt: int = 1) -> dict[str, object]:
    return {"kind": kind, "stage": stage, "attempt": attempt}


def test_the_event_order_check_accepts_a_possible_story() -> None:
    from ..harness import assert_events_in_order

    assert_events_in_order(
        [
            _event("queued", "moderate"),
            _event("started", "moderate"),
            _event("progress", "moderate"),
            _event("retried", "moderate"),
            _event("started", "moderate", 2),
            _event("completed", "moderate", 2),
            _event("queued", "transcribe"),  # the reconciler re-sent a lost message
            _event("started", "transcribe"),
            _event("completed", "transcribe"),
        ]
    )


@pytest.mark.parametrize(
    "events",
    [
        [_event("started", "moderate"), _event("queued", "moderate")],
        [
            _event("queued", "moderate"),
            _event("started", "moderate"),
            _event("completed", "moderate"),
            _event("progress", "moderate"),
        ],
        [_event("queued", "moderate"), _event("progress", "moderate")],
    ],
)
def test_the_event_order_check_refuses_an_impossible_one(events: list[dict[str, object]]) -> None:
    from ..harness import assert_events_in_order

    with pytest.raises(AssertionError):
        assert_events_in_order(events)


def test_the_browser_may_reach_the_s3_server_even_when_it_is_not_the_sqs_one() -> None:
    # The embedded stack serves objects (SeaweedFS) apart from queues (moto): presigned URLs point at S3's port.
    from vidpipe.settings import AWSSettings
    from vidpipe_gateway.headers import storage_origin

    split = AWSSettings(endpoint_url="http://127.0.0.1:4000", s3_endpoint_url="http://127.0.0.1:5000/")
    assert storage_origin(split) == "http://127.0.0.1:5000"
    assert storage_origin(AWSSettings(endpoint_url="http://127.0.0.1:4000")) == "http://127.0.0.1:4000"
    assert storage_origin(AWSSettings()) == "https://*.amazonaws.com"
