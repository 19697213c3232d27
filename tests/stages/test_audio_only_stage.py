"""Audio-only recordings on the moderate stage: m4a, mp3, ogg/opus, wav and flac go on to the transcriber.

The files are the repository's jfk.flac re-encoded with PyAV (what phones and meeting tools export). Each one
runs through the real stage on the queue: the verdict says no visual checks ran, the 16 kHz FLAC handed on is
as long as the speech, and the probe stored for the media has no video.
"""

from __future__ import annotations

import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vidpipe.messages import ModerateRequest, TranscribeRequest, decode_message
from vidpipe.testing import shipped_audio, task_row
from vidpipe_moderator.engine import Moderator, load_moderator
from vidpipe_moderator.handler import make_handler
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import read_audio

from ..harness import Harness, assert_task_events_in_order, wait_until

pytestmark = pytest.mark.models

# suffix: (container format, codec, sample rate, content type a browser declares)
FORMATS = {
    "m4a": ("ipod", "aac", 44100, "audio/mp4"),
    "mp3": ("mp3", "libmp3lame", 44100, "audio/mpeg"),
    "ogg": ("ogg", "libopus", 48000, "audio/ogg"),
    "wav": ("wav", "pcm_s16le", 22050, "audio/wav"),
    "flac": ("flac", "flac", 16000, "audio/flac"),
}


def write_audio(source: Path, destination: Path, container: str, codec: str, rate: int) -> Path:
    """Re-encode `source` as mono `codec` in `container`, as a recorder would write it."""
    samples = read_audio(source, rate, 1)
    with av.open(str(destination), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_size = 960 if codec == "libopus" else 1024
        for start in range(0, samples.shape[1], frame_size):
            chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="s16p", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return destination


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return load_moderator(ModeratorSettings())


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audio-only")
    speech = shipped_audio("jfk.flac")
    return {
        suffix: write_audio(speech, root / f"meeting.{suffix}", container, codec, rate)
        for suffix, (container, codec, rate, _) in FORMATS.items()
    }


async def run_stage(harness: Harness, moderator: Moderator, path: Path, content_type: str) -> tuple[Any, Any]:
    message = await harness.new_task()
    key = f"uploads/test/{uuid.uuid4()}/{path.name}"
    await harness.storage.upload_file(path, key, content_type)
    message = ModerateRequest(task_id=message.task_id, media_id=message.media_id, trace_id="t", video_key=key)
    await harness.send(message)
    consumer = harness.consumer(make_handler(moderator))
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1, timeout_s=120)
    await assert_task_events_in_order(harness.pool, message.task_id)
    return message, await task_row(harness.pool, message.task_id)


@pytest.mark.parametrize("suffix", list(FORMATS))
async def test_an_audio_only_recording_skips_visual_checks_and_goes_on_to_the_transcriber(
    harness: Harness, moderator: Moderator, recordings: dict[str, Path], suffix: str, tmp_path: Path
) -> None:
    # Given an audio-only upload
    path = recordings[suffix]
    message, task = await run_stage(harness, moderator, path, FORMATS[suffix][3])

    # Then the task moves on to transcription with a 16 kHz FLAC as long as the speech (11 s)
    assert (task["status"], task["current_stage"], task["error_code"]) == ("PROCESSING", "transcribe", None)
    handed = [decode_message(m["Body"]) for m in await harness.drain(harness.queues.main["transcribe"])]
    assert len(handed) == 1 and isinstance(handed[0], TranscribeRequest)
    audio = tmp_path / "audio.flac"
    await harness.storage.download_to(handed[0].audio_key, audio)
    with av.open(str(audio)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == ("flac", 16000, 1)
        duration = sum(frame.samples for frame in container.decode(stream)) / 16000
    assert duration == pytest.approx(11.0, abs=0.15)

    # And the verdict says why nothing visual was checked; the stored probe has no video
    async with harness.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT verdict, reason, frames_scanned FROM moderation_results WHERE task_id = %s",
                (message.task_id,),
            )
        ).fetchone()
        media = await (await conn.execute("SELECT probe FROM media WHERE id = %s", (message.media_id,))).fetchone()
        completed = await (
            await conn.execute(
                "SELECT detail FROM task_events WHERE task_id = %s AND kind = 'completed'", (message.task_id,)
            )
        ).fetchone()
    assert (row["verdict"], row["frames_scanned"]) == ("allowed", 0)
    assert row["reason"] == "Audio only: no visual checks (the file has no video stream)."
    assert media["probe"]["video"] is None and media["probe"]["audio"]["codec"] in {
        "aac", "mp3float", "mp3", "opus", "pcm_s16le", "flac"
    }  # fmt: skip
    assert completed["detail"]["audio_only"] is True


async def test_a_file_with_neither_stream_still_fails_with_a_reason(
    harness: Harness, moderator: Moderator, tmp_path: Path
) -> None:
    subtitles = tmp_path / "captions.m4a"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello there.\n\n")
    _, task = await run_stage(harness, moderator, subtitles, "audio/mp4")
    assert (task["status"], task["error_code"]) == ("FAILED", "no_media_streams")
    assert "neither a video nor an audio stream" in task["error_message"]
    assert await harness.drain(harness.queues.main["transcribe"], wait_s=0) == []
