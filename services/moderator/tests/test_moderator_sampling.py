"""Frame selection: budget arithmetic (pure logic) and scene cuts found in a real encoded slideshow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from vidpipe_moderator.engine import Moderator
from vidpipe_moderator.media import scan_media
from vidpipe_moderator.sampling import FrameSelector, SamplingPlan
from vidpipe_moderator.testmedia import fit_to_canvas, write_slideshow

pytestmark = pytest.mark.models  # loads the real NudeNet model (once per session)


def run_selector(plan: SamplingPlan, timestamps: list[float], cut_every_frame: bool) -> list[tuple[float, str]]:
    selector = FrameSelector(plan, scene_threshold=0.1, scene_check_interval_s=0.0)
    rng = np.random.default_rng(0)
    still = np.zeros((36, 64), dtype=np.uint8)
    picked = []
    for t in timestamps:
        thumbnail = rng.integers(0, 256, (36, 64), dtype=np.uint8) if cut_every_frame else still
        trigger = selector.select(t, thumbnail if selector.wants_thumbnail(t) else None)
        if trigger:
            picked.append((t, trigger))
    return picked


def test_short_video_uses_the_configured_interval() -> None:
    plan = SamplingPlan.for_duration(60, interval_s=5, max_frames=600)
    picked = run_selector(plan, [i / 10 for i in range(600)], cut_every_frame=False)
    assert [t for t, _ in picked] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]
    assert picked[0][1] == "first" and {trigger for _, trigger in picked[1:]} == {"interval"}


def test_long_video_is_thinned_evenly_within_the_frame_budget_even_when_every_frame_is_a_cut() -> None:
    # Given a 2-hour video at 5 fps whose every frame differs from the last (noise: the worst case for cuts)
    duration, fps, budget = 7200, 5, 120
    plan = SamplingPlan.for_duration(duration, interval_s=5, max_frames=budget)
    # When every frame is offered
    picked = run_selector(plan, [i / fps for i in range(duration * fps)], cut_every_frame=True)
    # Then the total stays within the budget and the periodic grid spans the whole video evenly
    assert len(picked) <= budget
    periodic = [t for t, trigger in picked if trigger == "interval"]
    gaps = np.diff([0.0, *periodic])
    assert plan.interval_s == pytest.approx(duration / 89)
    assert gaps.max() - gaps.min() < 0.21  # one frame of jitter at 5 fps
    assert periodic[-1] > duration - plan.interval_s - 0.2
    cuts = [t for t, trigger in picked if trigger == "scene_cut"]
    assert 0 < len(cuts) <= plan.scene_cut_budget
    assert cuts[-1] > duration / 2  # spread out, not spent in the first minutes


def test_scene_cuts_are_found_in_a_four_photo_slideshow(
    media_dir: Path, speech: Path, moderator_with: Callable[..., Moderator]
) -> None:
    # Given four photos of 2.5 s each, and a periodic interval longer than the video so only cuts add frames
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket(), skimage.data.chelsea()]
    video = write_slideshow(media_dir / "slideshow.mp4", photos, seconds_per_image=2.5, fps=10, audio=speech)
    # When it is moderated
    report = moderator_with(sample_interval_s=60.0).moderate(video)
    # Then exactly the three photo changes are cuts, and each was scanned
    assert report.scene_cuts_s == pytest.approx([2.5, 5.0, 7.5], abs=0.31)
    assert report.frames_scanned == 4
    scan = scan_media(video, moderator_with(sample_interval_s=60.0).settings)
    assert [f.trigger for f in scan.frames] == ["first", "scene_cut", "scene_cut", "scene_cut"]
    assert [f.timestamp_s for f in scan.frames[1:]] == report.scene_cuts_s
    # and the frame scanned after each cut shows the new photo, not the last of the old one
    for sampled, photo in zip(scan.frames, photos, strict=True):
        assert sampled.image.shape == (180, 320, 3)
        expected = fit_to_canvas(photo, 320, 180).astype(np.int16)
        assert np.abs(sampled.image.astype(np.int16) - expected).mean() < 12
