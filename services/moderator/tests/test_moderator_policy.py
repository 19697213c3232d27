"""Policy logic on hand-written detections (pure logic; real-detector paths are in test_moderator_engine)."""

from __future__ import annotations

import pytest

from vidpipe_moderator.policy import (
    ClassRule,
    ModerationPolicy,
    ScannedFrame,
    default_policy,
    evaluate,
    load_policy,
)
from vidpipe_moderator.results import Detection


def frame(t: float, *hits: tuple[str, float]) -> ScannedFrame:
    return ScannedFrame(
        timestamp_s=t,
        trigger="interval",
        detections=[Detection(label=label, score=score, box=(0, 0, 10, 10)) for label, score in hits],
    )


def test_faces_and_covered_classes_never_count_under_the_default_policy() -> None:
    decision = evaluate(
        default_policy(),
        [frame(0, ("FACE_FEMALE", 0.99), ("FACE_MALE", 0.95)), frame(5, ("FEMALE_BREAST_COVERED", 0.9))],
    )
    assert decision.verdict == "allowed"
    assert decision.findings == []
    assert "2 frames" in decision.reason


def test_default_policy_rejects_high_and_flags_moderate_exposure() -> None:
    rejected = evaluate(default_policy(), [frame(0), frame(65, ("FEMALE_GENITALIA_EXPOSED", 0.81))])
    assert rejected.verdict == "rejected"
    assert "FEMALE_GENITALIA_EXPOSED" in rejected.reason and "0:01:05" in rejected.reason
    assert [(f.timestamp_s, f.action) for f in rejected.findings] == [(65, "reject")]

    flagged = evaluate(default_policy(), [frame(10, ("FEMALE_BREAST_EXPOSED", 0.5))])
    assert flagged.verdict == "flagged"
    assert flagged.findings[0].action == "flag"

    # Below the flag threshold: a weak candidate is noise, not a finding.
    assert evaluate(default_policy(), [frame(10, ("ANUS_EXPOSED", 0.3))]).verdict == "allowed"


def test_findings_keep_only_the_detections_that_fired_strongest_first() -> None:
    decision = evaluate(
        default_policy(),
        [frame(3, ("FACE_FEMALE", 0.9), ("BUTTOCKS_EXPOSED", 0.55), ("MALE_GENITALIA_EXPOSED", 0.75))],
    )
    (finding,) = decision.findings
    assert finding.action == "reject"
    assert [d.label for d in finding.detections] == ["MALE_GENITALIA_EXPOSED", "BUTTOCKS_EXPOSED"]


def test_reject_min_frames_turns_a_lone_hit_into_a_flag() -> None:
    policy = ModerationPolicy(rules=default_policy().rules, reject_min_frames=2)
    lone = evaluate(policy, [frame(0, ("ANUS_EXPOSED", 0.95)), frame(5)])
    assert lone.verdict == "flagged"
    assert "too few frames to reject" in lone.reason
    repeated = evaluate(policy, [frame(0, ("ANUS_EXPOSED", 0.95)), frame(5, ("ANUS_EXPOSED", 0.9))])
    assert repeated.verdict == "rejected"


def test_policy_json_replaces_the_default_and_is_validated() -> None:
    policy = load_policy('{"rules": {"FACE_FEMALE": {"reject_at": 0.5}}}')
    assert set(policy.rules) == {"FACE_FEMALE"}
    assert evaluate(policy, [frame(0, ("FEMALE_GENITALIA_EXPOSED", 0.99))]).verdict == "allowed"
    assert load_policy(None) == default_policy()

    with pytest.raises(ValueError, match="unknown detector classes"):
        load_policy('{"rules": {"FACE_FEMAL": {"reject_at": 0.5}}}')
    with pytest.raises(ValueError, match="must not exceed"):
        load_policy('{"rules": {"FACE_FEMALE": {"reject_at": 0.5, "flag_at": 0.7}}}')
    with pytest.raises(ValueError, match="between 0 and 1"):
        ClassRule(reject_at=1.5)
    with pytest.raises(ValueError, match="invalid MODERATOR_POLICY_JSON"):
        load_policy('{"rules": {}, "reject_after": 2}')
