"""Which decoded frames the detector sees: frame 0, a periodic grid, and scene cuts, within a fixed budget.

Pure logic fed with timestamps and tiny grey thumbnails, so it is tested without decoding anything.

Budget: the periodic grid gets at most three quarters of `max_frames`; on a long video its interval stretches
so the grid stays even over the whole duration instead of stopping early. Scene cuts share the rest, and a cut
is only scanned once the previous scanned cut is `duration / cut budget` behind, which spreads them out too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vidpipe_moderator.results import FrameTrigger

GreyThumbnail = NDArray[np.uint8]
PERIODIC_SHARE = 0.75
# Enough to show where the cuts are in a review; a video with more is probably noise or a flicker effect.
MAX_REPORTED_CUTS = 500


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    interval_s: float  # the periodic grid actually used (>= the configured interval)
    scene_cut_budget: int
    min_scene_cut_gap_s: float

    @classmethod
    def for_duration(cls, duration_s: float, *, interval_s: float, max_frames: int) -> SamplingPlan:
        periodic_budget = max(1, math.floor((max_frames - 1) * PERIODIC_SHARE))
        interval = max(interval_s, duration_s / periodic_budget)
        planned_periodic = math.floor(duration_s / interval) if interval > 0 else 0
        cut_budget = max(0, max_frames - 1 - planned_periodic)
        gap = duration_s / cut_budget if cut_budget else math.inf
        return cls(interval_s=interval, scene_cut_budget=cut_budget, min_scene_cut_gap_s=gap)


class FrameSelector:
    """Decides, frame by frame in decode order, whether the frame is scanned and why."""

    def __init__(self, plan: SamplingPlan, *, scene_threshold: float, scene_check_interval_s: float) -> None:
        self.plan = plan
        self._scene_threshold = scene_threshold * 255.0
        self._check_interval = scene_check_interval_s
        self._next_periodic = plan.interval_s
        self._last_check_s = -math.inf
        self._previous_thumbnail: NDArray[np.int16] | None = None
        self._last_cut_scanned_s = -math.inf
        self._first_seen = False
        self.scene_cuts_s: list[float] = []
        self.scene_cuts_scanned = 0

    def wants_thumbnail(self, timestamp_s: float) -> bool:
        """Whether to pay for a grey thumbnail of this frame: scene checks run at most every check interval."""
        return timestamp_s - self._last_check_s >= self._check_interval

    def select(self, timestamp_s: float, thumbnail: GreyThumbnail | None) -> FrameTrigger | None:
        """The reason to scan this frame, or None. Pass a thumbnail whenever `wants_thumbnail` said so."""
        is_cut = False
        if thumbnail is not None:
            self._last_check_s = timestamp_s
            current = thumbnail.astype(np.int16)
            if self._previous_thumbnail is not None:
                difference = float(np.abs(current - self._previous_thumbnail).mean())
                is_cut = difference > self._scene_threshold
            self._previous_thumbnail = current
        if is_cut and len(self.scene_cuts_s) < MAX_REPORTED_CUTS:
            self.scene_cuts_s.append(round(timestamp_s, 3))

        if not self._first_seen:
            self._first_seen = True
            return "first"
        if timestamp_s >= self._next_periodic:
            # Skip grid points a gap in the stream jumped over instead of scanning them all at once.
            self._next_periodic = (math.floor(timestamp_s / self.plan.interval_s) + 1) * self.plan.interval_s
            return "interval"
        if (
            is_cut
            and self.scene_cuts_scanned < self.plan.scene_cut_budget
            and timestamp_s - self._last_cut_scanned_s >= self.plan.min_scene_cut_gap_s
        ):
            self.scene_cuts_scanned += 1
            self._last_cut_scanned_s = timestamp_s
            return "scene_cut"
        return None
