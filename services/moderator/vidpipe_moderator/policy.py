"""Which detector classes at which scores reject a video or flag it for a human review.

Pure logic over detections, so it is tested without models and changed without touching the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from vidpipe_moderator.results import Detection, FrameFinding, FrameTrigger, RuleAction, Verdict

# The class order of NudeNet 3.4's detector output (also in the ONNX file's metadata under "names").
NUDENET_LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


class ClassRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A score at or above `reject_at` rejects; at or above `flag_at` (below `reject_at`) flags. None: off."""

    reject_at: float | None = None
    flag_at: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("reject_at", self.reject_at), ("flag_at", self.flag_at)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.reject_at is not None and self.flag_at is not None and self.flag_at > self.reject_at:
            raise ValueError(f"flag_at ({self.flag_at}) must not exceed reject_at ({self.reject_at})")

    def action_for(self, score: float) -> RuleAction | None:
        if self.reject_at is not None and score >= self.reject_at:
            return "reject"
        if self.flag_at is not None and score >= self.flag_at:
            return "flag"
        return None


class ModerationPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rules per NudeNet class. Classes without a rule (faces, covered body parts) never count."""

    rules: dict[str, ClassRule]
    # A single reject-level frame among hundreds can be a false positive; requiring more than one turns a lone
    # hit into a flag (a human looks) instead of a rejection.
    reject_min_frames: int = 1

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rules) - set(NUDENET_LABELS))
        if unknown:
            # A typo would silently disable a rule, so it is an error, not a warning.
            raise ValueError(f"unknown detector classes {unknown}; known: {list(NUDENET_LABELS)}")
        if self.reject_min_frames < 1:
            raise ValueError("reject_min_frames must be at least 1")


def default_policy() -> ModerationPolicy:
    """Explicit nudity rejects at high confidence and goes to human review at moderate confidence.

    NudeNet keeps candidates from 0.2 up and is commonly used with a 0.5 cut-off. These thresholds are
    starting points, not calibrated here (no explicit material is used on these machines): tune them on your
    own review data. Buttocks are the class most confused with other things, so only near-certain hits reject:
    the shipped 320n model scores scikit-image's rainbow colour wheel BUTTOCKS_EXPOSED 0.83, which must not
    reject a video. Faces, feet, bellies, armpits, male chests and covered classes never count.
    """
    explicit = ClassRule(reject_at=0.7, flag_at=0.45)
    return ModerationPolicy(
        rules={
            "FEMALE_GENITALIA_EXPOSED": explicit,
            "MALE_GENITALIA_EXPOSED": explicit,
            "ANUS_EXPOSED": explicit,
            "FEMALE_BREAST_EXPOSED": explicit,
            "BUTTOCKS_EXPOSED": ClassRule(reject_at=0.9, flag_at=0.5),
        }
    )


def load_policy(policy_json: str | None) -> ModerationPolicy:
    """The configured policy (see `ModeratorSettings.policy_json`), or the default; raises on invalid JSON."""
    if not policy_json:
        return default_policy()
    try:
        return msgspec.json.decode(policy_json, type=ModerationPolicy)
    except msgspec.DecodeError as exc:  # ValidationError included: the message names the bad field
        raise ValueError(f"invalid MODERATOR_POLICY_JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ScannedFrame:
    """One frame's detector output with where it came from, the policy's input."""

    timestamp_s: float
    trigger: FrameTrigger
    detections: Sequence[Detection]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    verdict: Verdict
    reason: str
    findings: list[FrameFinding]


def format_timestamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


AUDIO_ONLY_REASON = "Audio only: no visual checks (the file has no video stream)."


def audio_only_decision() -> PolicyDecision:
    """An audio-only recording has no pictures for the policy to judge; it is allowed and says so."""
    return PolicyDecision("allowed", AUDIO_ONLY_REASON, [])


def evaluate(policy: ModerationPolicy, frames: Iterable[ScannedFrame]) -> PolicyDecision:
    """Apply `policy` to every scanned frame and explain the verdict in one sentence."""
    findings: list[FrameFinding] = []
    scanned = 0
    for frame in frames:
        scanned += 1
        fired: list[tuple[RuleAction, Detection]] = []
        for detection in frame.detections:
            rule = policy.rules.get(detection.label)
            action = rule.action_for(detection.score) if rule else None
            if action is not None:
                fired.append((action, detection))
        if fired:
            strongest: RuleAction = "reject" if any(a == "reject" for a, _ in fired) else "flag"
            findings.append(
                FrameFinding(
                    timestamp_s=frame.timestamp_s,
                    trigger=frame.trigger,
                    action=strongest,
                    detections=sorted((d for _, d in fired), key=lambda d: -d.score),
                )
            )

    rejecting = [f for f in findings if f.action == "reject"]
    if not findings:
        return PolicyDecision("allowed", f"No scanned frame matched a moderation rule ({scanned} frames).", [])

    def worst_of(candidates: list[FrameFinding]) -> tuple[FrameFinding, Detection]:
        return max(((f, f.detections[0]) for f in candidates), key=lambda pair: pair[1].score)

    if len(rejecting) >= policy.reject_min_frames:
        worst, detection = worst_of(rejecting)
        return PolicyDecision(
            "rejected",
            f"{detection.label} detected with score {detection.score:.2f} at "
            f"{format_timestamp(worst.timestamp_s)} "
            f"({len(rejecting)} of {scanned} frames over the rejection threshold).",
            findings,
        )
    worst, detection = worst_of(findings)
    below = " (too few frames to reject)" if rejecting else ""
    return PolicyDecision(
        "flagged",
        f"{detection.label} detected with score {detection.score:.2f} at "
        f"{format_timestamp(worst.timestamp_s)}{below}; {len(findings)} of {scanned} frames need review.",
        findings,
    )
