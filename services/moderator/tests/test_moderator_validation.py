"""Every kind of bad input fails with its own stable PermanentError code, before the detector runs."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from vidpipe.errors import PermanentError
from vidpipe_moderator.engine import Moderator
from vidpipe_moderator.media import probe_media
from vidpipe_moderator.testmedia import write_slideshow

pytestmark = pytest.mark.models  # loads the real NudeNet model (once per session)


class DetectorMustNotRun:
    """Stands in for the detector to prove validation happens first; any call fails the test."""

    description = "must-not-run"

    def detect(self, frames: object) -> list[list[object]]:
        raise AssertionError("the detector ran on invalid input")


@pytest.fixture
def strict(moderator: Moderator) -> Moderator:
    return Moderator(DetectorMustNotRun(), moderator.policy, moderator.settings)  # type: ignore[arg-type]


def expect_code(moderator: Moderator, source: object, code: str) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        moderator.moderate(source)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value
    assert len(caught.value.message) > 20  # a sentence for the user, not a bare code
    return caught.value


def cut(source: Path, destination: Path, fraction: float) -> Path:
    data = source.read_bytes()
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


def test_text_file_renamed_mp4_is_not_media(strict: Moderator, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("Meeting notes: this is not a video.\n" * 20)
    expect_code(strict, fake, "not_media")


def test_still_image_renamed_mp4_is_not_media(strict: Moderator, tmp_path: Path) -> None:
    picture = tmp_path / "photo.mp4"
    picture.write_bytes(cv2.imencode(".png", skimage.data.coffee())[1].tobytes())
    error = expect_code(strict, picture, "not_media")
    assert "still image" in error.message


def test_zero_length_file_is_empty(strict: Moderator, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    expect_code(strict, empty, "empty_file")
    expect_code(strict, io.BytesIO(b""), "empty_file")


def test_missing_file(strict: Moderator, tmp_path: Path) -> None:
    expect_code(strict, tmp_path / "nowhere.mp4", "file_not_found")


def test_truncated_file_with_index_at_the_end(strict: Moderator, clean_video: Path, tmp_path: Path) -> None:
    error = expect_code(strict, cut(clean_video, tmp_path / "cut.mp4", 0.6), "truncated_media")
    assert "moov" in error.message


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_truncated_faststart_file_is_caught_by_decoding_to_the_end(
    strict: Moderator, faststart_video: Path, tmp_path: Path, fraction: float
) -> None:
    # The index is intact, so the file opens and probes as the full 12 s; only decoding to the end shows it.
    truncated = cut(faststart_video, tmp_path / "cut-faststart.mp4", fraction)
    assert probe_media(truncated, strict.settings).duration_s == pytest.approx(12.0)
    error = expect_code(strict, truncated, "truncated_media")
    assert "of a stated 12.0 s" in error.message


def test_truncated_file_object_is_caught_too(strict: Moderator, faststart_video: Path) -> None:
    data = faststart_video.read_bytes()
    expect_code(strict, io.BytesIO(data[: len(data) // 2]), "truncated_media")


def test_video_without_audio(strict: Moderator, tmp_path: Path) -> None:
    silent = write_slideshow(tmp_path / "silent.mp4", [skimage.data.rocket()], seconds_per_image=2, fps=5)
    error = expect_code(strict, silent, "no_audio_stream")
    assert "transcribe" in error.message


def test_audio_only_file_is_allowed_without_visual_checks(strict: Moderator, tmp_path: Path, speech: Path) -> None:
    # The detector stand-in fails the test if it runs: an audio-only recording has no pictures to check.
    audio_only = write_slideshow(
        tmp_path / "voice.m4a",
        [np.zeros((8, 8, 3), np.uint8)],
        seconds_per_image=5,
        audio=speech,
        include_video=False,
    )
    for source in (audio_only, speech):  # an AAC m4a, and a plain FLAC
        report = strict.moderate(source, audio_out=tmp_path / "out.flac")
        assert (report.verdict, report.frames_scanned, report.findings) == ("allowed", 0, [])
        assert report.reason.startswith("Audio only: no visual checks")
        assert report.media.video is None and report.audio is not None


def test_a_file_with_neither_video_nor_audio(strict: Moderator, tmp_path: Path) -> None:
    subtitles = tmp_path / "subtitles.mp4"  # FFmpeg reads it (SubRip): one subtitle stream, nothing else
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello there.\n\n")
    error = expect_code(strict, subtitles, "no_media_streams")
    assert "neither a video nor an audio stream" in error.message


def test_duration_over_limit(strict: Moderator, clean_video: Path) -> None:
    short_limit = Moderator(strict.detector, strict.policy, strict.settings.model_copy(update={"max_duration_s": 10}))
    error = expect_code(short_limit, clean_video, "duration_over_limit")
    assert "0.2 min" in error.message


def test_size_over_limit(strict: Moderator, clean_video: Path) -> None:
    small_limit = Moderator(strict.detector, strict.policy, strict.settings.model_copy(update={"max_size_bytes": 1000}))
    expect_code(small_limit, clean_video, "file_too_large")


def test_probe_reports_what_the_file_states(clean_video: Path, moderator_with: Callable[..., Moderator]) -> None:
    info = probe_media(clean_video, moderator_with().settings)
    assert info.container.startswith("mov,mp4")
    assert info.duration_s == pytest.approx(12.0)
    assert (info.video.codec, info.video.width, info.video.height, info.video.fps) == ("h264", 640, 360, 10.0)
    assert info.video.frame_count == 120
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 44100, 2)
    assert info.audio.duration_s == pytest.approx(11.0, abs=0.05)
    assert info.size_bytes == clean_video.stat().st_size
