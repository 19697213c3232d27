"""The engine end to end with the real NudeNet model on real photographs encoded into real videos."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
from nudenet import NudeDetector

from vidpipe.errors import PermanentError
from vidpipe_moderator.detector import load_detector
from vidpipe_moderator.engine import Moderator
from vidpipe_moderator.media import scan_media
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

pytestmark = pytest.mark.models  # loads the real NudeNet model (once per session)

REJECT_FACES = '{"rules": {"FACE_FEMALE": {"reject_at": 0.5}}}'
FLAG_FACES = '{"rules": {"FACE_FEMALE": {"flag_at": 0.5}}}'


def test_detector_output_on_real_video_frames(clean_video: Path, moderator: Moderator) -> None:
    # Given the frames the engine samples from the clean video (astronaut first, test pattern last)
    scan = scan_media(clean_video, moderator.settings)
    by_time = {f.timestamp_s: f for f in scan.frames}
    astronaut, pattern = by_time[0.0], by_time[9.0]
    # When the real detector sees them
    astronaut_hits, pattern_hits = moderator.detector.detect([astronaut.image, pattern.image])
    # Then it finds the astronaut's face on her face, and nothing at all on colour bars
    face = max((d for d in astronaut_hits if d.label == "FACE_FEMALE"), key=lambda d: d.score)
    assert face.score > 0.6
    x, y, w, h = face.box  # in the 320x180 sample; the 512x512 photo sits centred in the 640x360 frame
    assert 120 < x + w / 2 < 200 and 20 < y + h / 2 < 80
    assert not any("EXPOSED" in d.label for d in astronaut_hits)
    assert pattern_hits == []


def test_detections_match_the_nudenet_reference_implementation(moderator: Moderator) -> None:
    reference = NudeDetector()
    for image in (
        skimage.data.astronaut(),
        skimage.data.coffee(),
        np.repeat(skimage.data.camera()[..., None], 3, 2),
    ):
        ours = moderator.detector.detect([image])[0]
        theirs = reference.detect(np.ascontiguousarray(image))
        assert [d.label for d in ours] == [d["class"] for d in theirs]
        for mine, ref in zip(ours, theirs, strict=True):
            assert mine.score == pytest.approx(ref["score"], abs=1e-4)
            assert np.abs(np.subtract(mine.box, ref["box"])).max() <= 1


def test_clean_video_is_allowed_and_its_audio_extracted(
    clean_video: Path, moderator: Moderator, tmp_path: Path
) -> None:
    progress: list[tuple[float, str]] = []
    audio_out = tmp_path / "speech.flac"

    report = moderator.moderate(clean_video, audio_out=audio_out, progress=lambda f, d: progress.append((f, d)))

    assert report.verdict == "allowed", report.reason
    assert report.findings == []
    # frame 0, 5 s, 10 s on the grid, plus the cuts at 3, 6 and 9 s
    assert report.frames_scanned == 6
    assert report.scene_cuts_s == pytest.approx([3.0, 6.0, 9.0], abs=0.31)
    assert report.decoded_duration_s == pytest.approx(12.0, abs=0.11)
    assert report.timings.decode_s > 0 and report.timings.detect_s > 0

    # The FLAC is what the transcriber gets: 16 kHz mono, as long as the video's audio (jfk.flac, 11.0 s)
    assert report.audio is not None and report.audio.path == str(audio_out)
    with av.open(str(audio_out)) as flac:
        stream = flac.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.codec_context.layout.nb_channels) == (
            "flac",
            16000,
            1,
        )
        samples = sum(frame.samples for frame in flac.decode(stream))
    assert samples / 16000 == pytest.approx(report.media.audio.duration_s, abs=0.1)
    assert report.audio.duration_s == pytest.approx(11.0, abs=0.1)
    assert report.audio.size_bytes == audio_out.stat().st_size

    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 5
    assert any("scanned" in detail for _, detail in progress)


def test_a_policy_rejecting_faces_rejects_the_astronaut_and_removes_the_audio(
    clean_video: Path, moderator_with: Callable[..., Moderator], tmp_path: Path
) -> None:
    audio_out = tmp_path / "speech.flac"
    report = moderator_with(policy_json=REJECT_FACES).moderate(clean_video, audio_out=audio_out)

    assert report.verdict == "rejected"
    assert "FACE_FEMALE" in report.reason and "0:00:00" in report.reason
    (finding,) = report.findings  # the astronaut is on screen for the first 3 s only: frame 0
    assert (finding.timestamp_s, finding.trigger, finding.action) == (0.0, "first", "reject")
    (detection,) = finding.detections
    assert detection.label == "FACE_FEMALE" and detection.score >= 0.5
    assert 240 < detection.box[0] + detection.box[2] / 2 < 400  # scaled back to the 640x360 video
    assert report.audio is None and not audio_out.exists()


def test_a_policy_flagging_faces_flags_and_keeps_the_audio(
    clean_video: Path, moderator_with: Callable[..., Moderator], tmp_path: Path
) -> None:
    audio_out = tmp_path / "speech.flac"
    report = moderator_with(policy_json=FLAG_FACES).moderate(clean_video, audio_out=audio_out)
    assert report.verdict == "flagged"
    assert [(f.timestamp_s, f.action) for f in report.findings] == [(0.0, "flag")]
    assert report.audio is not None and audio_out.exists()


def test_requiring_two_reject_frames_turns_one_face_frame_into_a_flag(
    clean_video: Path, moderator_with: Callable[..., Moderator]
) -> None:
    policy = REJECT_FACES[:-1] + ', "reject_min_frames": 2}'
    report = moderator_with(policy_json=policy).moderate(clean_video)
    assert report.verdict == "flagged"
    assert "too few frames to reject" in report.reason


def test_default_policy_flags_but_does_not_reject_a_known_false_positive(
    media_dir: Path, speech: Path, moderator: Moderator
) -> None:
    # The shipped 320n model mistakes scikit-image's colour wheel for BUTTOCKS_EXPOSED (about 0.77 in a video
    # frame): the default policy must send that to review, never reject it outright.
    video = write_slideshow(
        media_dir / "colourwheel.mp4",
        [skimage.data.colorwheel(), colour_bars(640, 360)],
        seconds_per_image=2,
        fps=5,
        audio=speech,
    )
    report = moderator.moderate(video)
    assert report.verdict == "flagged"
    assert {d.label for f in report.findings for d in f.detections} == {"BUTTOCKS_EXPOSED"}


def test_file_object_input(faststart_video: Path, moderator: Moderator) -> None:
    with faststart_video.open("rb") as handle:
        report = moderator.moderate(handle)
    assert report.verdict == "allowed" and report.frames_scanned == 6


@pytest.fixture
def http_root(media_dir: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_input_streams_over_http(
    http_root: str, faststart_video: Path, moderator: Moderator, tmp_path: Path
) -> None:
    report = moderator.moderate(
        f"{http_root}/{faststart_video.name}?X-Amz-Signature=secret", audio_out=tmp_path / "a.flac"
    )
    assert report.verdict == "allowed"
    assert report.audio is not None and report.audio.duration_s == pytest.approx(11.0, abs=0.1)
    with pytest.raises(PermanentError) as caught:
        moderator.moderate(f"{http_root}/missing.mp4?X-Amz-Signature=secret")
    assert caught.value.code == "file_not_found"
    assert "secret" not in caught.value.message  # presigned signatures never reach task events or logs


def test_providers_are_configurable_and_unavailable_ones_fail_loudly(moderator: Moderator) -> None:
    with_fallback = load_detector(
        moderator.settings.model_copy(update={"onnx_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]})
    )
    assert with_fallback.providers == ["CPUExecutionProvider"]  # no GPU here: CPU after a warning
    with pytest.raises(RuntimeError, match="none of MODERATOR_ONNX_PROVIDERS"):
        load_detector(moderator.settings.model_copy(update={"onnx_providers": ["CUDAExecutionProvider"]}))
