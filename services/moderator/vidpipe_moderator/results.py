"""What the moderator hands across a boundary: stored by the handler, printed by the CLI (msgspec Structs).

Fields added later get defaults, types never change (the message rule applies to stored results too).
"""

from __future__ import annotations

from typing import Literal

import msgspec

Verdict = Literal["allowed", "flagged", "rejected"]
# Why a frame was scanned: the first frame, the periodic grid, or a detected scene cut.
FrameTrigger = Literal["first", "interval", "scene_cut"]
RuleAction = Literal["flag", "reject"]


class VideoStreamInfo(msgspec.Struct, frozen=True, kw_only=True):
    codec: str
    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None  # as the container states it; None where it does not say
    duration_s: float | None = None  # the stream's own stated duration, where the container has one


class AudioStreamInfo(msgspec.Struct, frozen=True, kw_only=True):
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None = None


class MediaInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Probed before any frame is decoded; every field is what the file claims about itself."""

    container: str  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"
    duration_s: float
    size_bytes: int | None = None
    bit_rate: int | None = None
    video: VideoStreamInfo | None = None  # None: an audio-only recording (no visual checks)
    audio: AudioStreamInfo


class Detection(msgspec.Struct, frozen=True, kw_only=True):
    label: str  # a NudeNet class, e.g. "FACE_FEMALE"
    score: float
    box: tuple[int, int, int, int]  # x, y, width, height in the video's own pixels


class FrameFinding(msgspec.Struct, frozen=True, kw_only=True):
    """A scanned frame on which at least one policy rule fired; `detections` holds only the firing ones."""

    timestamp_s: float
    trigger: FrameTrigger
    action: RuleAction  # the strongest rule that fired on this frame
    detections: list[Detection]


class AudioTrack(msgspec.Struct, frozen=True, kw_only=True):
    """The extracted speech track the transcriber downloads: FLAC, 16 kHz, mono."""

    path: str
    duration_s: float
    sample_rate: int = 16000
    channels: int = 1
    codec: str = "flac"
    size_bytes: int = 0


class StageTimings(msgspec.Struct, frozen=True, kw_only=True):
    decode_s: float  # the single pass: demux, decode, scene checks, frame sampling, audio resample + encode
    detect_s: float
    total_s: float


class ModerationReport(msgspec.Struct, frozen=True, kw_only=True):
    media: MediaInfo
    verdict: Verdict
    reason: str  # one sentence a user or reviewer can read
    findings: list[FrameFinding]
    frames_scanned: int
    scene_cuts_s: list[float]  # every cut found (capped at a few hundred), scanned or not
    decoded_duration_s: float  # where decoding actually ended, for audits of the stated duration
    audio: AudioTrack | None  # None when no audio was requested, or when the video was rejected
    detector: str  # model, resolution and execution provider, for audits
    timings: StageTimings
    decode_errors: int = 0  # packets FFmpeg could not decode and skipped (a few are normal; many fail the job)
    thumbnail: str | None = None  # path of a small JPEG of the first sampled frame (allowed videos, when asked)
