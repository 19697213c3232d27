"""The moderator engine: one call per job, from a video to a `ModerationReport` (and a FLAC file if asked).

    moderator = load_moderator(ModeratorSettings())      # once per process: loads the detector
    report = moderator.moderate(path_or_url_or_file, audio_out=Path("audio.flac"), progress=callback)

Order: the whole input is validated and decoded once before the detector runs, so a truncated or corrupt file
fails without spending model time; detection then runs on the sampled frames held in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from vidpipe.stage import ProgressReporter
from vidpipe_moderator.detector import NudityDetector, load_detector
from vidpipe_moderator.media import MediaScan, MediaSource, scan_media
from vidpipe_moderator.policy import ModerationPolicy, ScannedFrame, audio_only_decision, evaluate, load_policy
from vidpipe_moderator.results import Detection, ModerationReport, StageTimings
from vidpipe_moderator.settings import ModeratorSettings

# Share of the progress bar given to the decode pass: on 640x360 5 fps input on 2 shared CPU cores decoding
# took 55-60% of the time (bench/moderator_e2e.py). On a GPU detection is nearly free; the bar then just ends fast.
DECODE_PROGRESS_SHARE = 0.55
# Report detection progress about this often, so a long video's status moves without flooding events.
PROGRESS_FRAMES = 16
# The list page shows thumbnails at about 120 px wide; 320 px stays sharp on a 2x screen and under ~20 KB.
THUMBNAIL_MAX_SIDE = 320


class ModerationEngine(Protocol):
    """What the handler calls; `Moderator` is the one implementation, the detector inside it varies."""

    def moderate(
        self,
        source: MediaSource,
        *,
        audio_out: Path | None = None,
        progress: ProgressReporter | None = None,
        thumbnail_out: Path | None = None,
    ) -> ModerationReport: ...


class Moderator:
    def __init__(self, detector: NudityDetector, policy: ModerationPolicy, settings: ModeratorSettings) -> None:
        self.detector = detector
        self.policy = policy
        self.settings = settings

    def moderate(
        self,
        source: MediaSource,
        *,
        audio_out: Path | None = None,
        progress: ProgressReporter | None = None,
        thumbnail_out: Path | None = None,
    ) -> ModerationReport:
        """Validate, sample, detect, decide. Raises PermanentError for bad input (see `media` for the codes).

        An audio-only file skips the visual checks (no frames, no detector) and is allowed with that reason.

        With `audio_out`, the speech track is written there as 16 kHz mono FLAC; if the verdict is "rejected"
        the file is deleted (nothing of rejected media travels on) and `report.audio` is None. With
        `thumbnail_out`, the first sampled frame is written there as a small JPEG, only for an "allowed" verdict
        (a flagged or rejected video gets no picture in anyone's list).
        """
        started = time.perf_counter()
        scan = scan_media(
            source,
            self.settings,
            audio_out=audio_out,
            progress=progress,
            progress_share=DECODE_PROGRESS_SHARE,
        )
        # Detection frees each frame's pixels as it goes: encode the thumbnail candidate first.
        jpeg = encode_thumbnail(scan.frames[0].image) if thumbnail_out is not None and scan.frames else None
        detect_started = time.perf_counter()
        scanned = self._detect(scan, progress)
        detect_s = time.perf_counter() - detect_started
        # No video stream: nothing visual to check, and the verdict says so rather than "0 frames matched".
        decision = evaluate(self.policy, scanned) if scan.info.video is not None else audio_only_decision()

        audio = scan.audio
        if decision.verdict == "rejected" and audio is not None:
            Path(audio.path).unlink(missing_ok=True)
            audio = None
        thumbnail = None
        if jpeg is not None and thumbnail_out is not None and decision.verdict == "allowed":
            Path(thumbnail_out).write_bytes(jpeg)
            thumbnail = str(thumbnail_out)
        if progress is not None:
            progress(1.0, decision.verdict)
        return ModerationReport(
            media=scan.info,
            verdict=decision.verdict,
            reason=decision.reason,
            findings=decision.findings,
            frames_scanned=len(scanned),
            scene_cuts_s=scan.scene_cuts_s,
            decoded_duration_s=scan.decoded_duration_s,
            audio=audio,
            detector=self.detector.description,
            timings=StageTimings(
                decode_s=round(scan.decode_s, 3),
                detect_s=round(detect_s, 3),
                total_s=round(time.perf_counter() - started, 3),
            ),
            decode_errors=scan.decode_errors,
            thumbnail=thumbnail,
        )

    def _detect(self, scan: MediaScan, progress: ProgressReporter | None) -> list[ScannedFrame]:
        scanned: list[ScannedFrame] = []
        total = len(scan.frames)
        step = max(PROGRESS_FRAMES, self.settings.batch_size)
        for start in range(0, total, step):
            chunk = scan.frames[start : start + step]
            for sampled, detections in zip(chunk, self.detector.detect([f.image for f in chunk]), strict=True):
                scanned.append(
                    ScannedFrame(
                        timestamp_s=sampled.timestamp_s,
                        trigger=sampled.trigger,
                        detections=[_to_source_pixels(d, scan.scale_to_source) for d in detections],
                    )
                )
                sampled.image = sampled.image[:0]  # scanned: let the pixels go while the rest are detected
            if progress is not None:
                done = start + len(chunk)
                share = DECODE_PROGRESS_SHARE + (1 - DECODE_PROGRESS_SHARE) * done / total
                progress(min(share, 0.999), f"scanned {done}/{total} frames")
        return scanned


def encode_thumbnail(rgb: NDArray[np.uint8]) -> bytes:
    """A frame the scan already decoded (downscaled to the detector's input) as a JPEG of at most 320 px."""
    import cv2  # OpenCV comes with NudeNet

    height, width = rgb.shape[:2]
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(width, height))
    small: Any = rgb
    if scale < 1.0:
        small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return bytes(encoded.tobytes())


def _to_source_pixels(detection: Detection, scale: float) -> Detection:
    x, y, w, h = detection.box
    box = (round(x * scale), round(y * scale), round(w * scale), round(h * scale))
    return Detection(label=detection.label, score=round(detection.score, 4), box=box)


def load_moderator(settings: ModeratorSettings | None = None) -> Moderator:
    """Build the engine once per process: validates the policy and loads the detector (about 0.5 s on CPU)."""
    settings = settings or ModeratorSettings()
    policy = load_policy(settings.policy_json)  # before the model, so a bad policy fails fast
    return Moderator(load_detector(settings), policy, settings)
