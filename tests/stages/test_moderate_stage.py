"""The moderate stage on the queue with the real model and real media: every outcome visible in the task status."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import av
import pytest
import skimage.data

from vidpipe.messages import ModerateRequest, TranscribeRequest, decode_message
from vidpipe.testing import shipped_audio, task_row
from vidpipe_moderator.engine import Moderator, load_moderator
from vidpipe_moderator.handler import make_handler
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

from ..harness import Harness, assert_task_events_in_order, wait_until

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return load_moderator(ModeratorSettings())


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stage-media")
    speech = shipped_audio("jfk.flac")
    photos = [skimage.data.coffee(), colour_bars(640, 360)]
    clean = write_slideshow(root / "clean.mp4", photos, seconds_per_image=3, fps=5, audio=speech)
    silent = write_slideshow(root / "silent.mp4", photos, seconds_per_image=3, fps=5)
    truncated = root / "truncated.mp4"
    truncated.write_bytes(clean.read_bytes()[: clean.stat().st_size // 2])
    text = root / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 50)
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    face = write_slideshow(root / "face.mp4", [skimage.data.astronaut()], seconds_per_image=4, fps=5, audio=speech)
    return {"clean": clean, "silent": silent, "truncated": truncated, "text": text, "empty": empty, "face": face}


async def run_stage(harness: Harness, moderator: Moderator, path: Path | None) -> tuple[ModerateRequest, Any]:
    message = await harness.new_task()
    key = f"uploads/test/{uuid.uuid4()}/video.mp4"
    if path is not None:
        await harness.storage.upload_file(path, key, "video/mp4")
    message = ModerateRequest(task_id=message.task_id, media_id=message.media_id, trace_id="t", video_key=key)
    await harness.send(message)
    consumer = harness.consumer(make_handler(moderator))
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1, timeout_s=120)
    await assert_task_events_in_order(harness.pool, message.task_id)
    return message, await task_row(harness.pool, message.task_id)


async def test_clean_video_hands_a_flac_of_the_same_length_to_the_transcriber(
    harness: Harness, moderator: Moderator, media: dict[str, Path], tmp_path: Path
) -> None:
    message, task = await run_stage(harness, moderator, media["clean"])
    assert (task["status"], task["current_stage"], task["error_code"]) == ("PROCESSING", "transcribe", None)
    handed = [decode_message(m["Body"]) for m in await harness.drain(harness.queues.main["transcribe"])]
    assert len(handed) == 1 and isinstance(handed[0], TranscribeRequest)
    audio = tmp_path / "audio.flac"
    await harness.storage.download_to(handed[0].audio_key, audio)
    with av.open(str(audio)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == ("flac", 16000, 1)
        duration = sum(frame.samples for frame in container.decode(stream)) / 16000
    with av.open(str(media["clean"])) as original:
        expected = float(original.streams.audio[0].duration * original.streams.audio[0].time_base)
    assert abs(duration - expected) < 0.1
    async with harness.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT verdict, frames_scanned FROM moderation_results WHERE task_id = %s", (message.task_id,)
            )
        ).fetchone()
        probe = await (
            await conn.execute("SELECT duration_s, probe, audio_key FROM media WHERE id = %s", (message.media_id,))
        ).fetchone()
    assert row["verdict"] == "allowed" and row["frames_scanned"] >= 2
    assert probe["audio_key"] == handed[0].audio_key
    assert probe["probe"]["video"]["codec"] == "h264" and probe["duration_s"] == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("text", "not_media"),
        ("empty", "empty_file"),
        ("truncated", "truncated_media"),
        ("silent", "no_audio_stream"),
        (None, "object_missing"),
    ],
)
async def test_bad_uploads_fail_the_task_with_a_reason_and_send_nothing_on(
    harness: Harness, moderator: Moderator, media: dict[str, Path], name: str | None, code: str
) -> None:
    _, task = await run_stage(harness, moderator, media[name] if name else None)
    assert (task["status"], task["error_code"]) == ("FAILED", code)
    assert task["error_message"]  # readable text for the user, not just a code
    assert await harness.drain(harness.queues.main["transcribe"], wait_s=0) == []
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)


async def test_a_policy_that_rejects_faces_rejects_the_astronaut(harness: Harness, media: dict[str, Path]) -> None:
    policy = '{"rules": {"FACE_FEMALE": {"reject_at": 0.5, "flag_at": 0.3}}}'
    strict = load_moderator(ModeratorSettings(policy_json=policy))
    message, task = await run_stage(harness, strict, media["face"])
    assert (task["status"], task["error_code"]) == ("REJECTED", "rejected_by_moderation")
    assert "FACE_FEMALE" in task["error_message"]
    assert await harness.drain(harness.queues.main["transcribe"], wait_s=0) == []
    objects = [key async for key in _keys(harness, f"media/{message.media_id}/")]
    assert objects == []  # nothing of a rejected video travels on


async def _keys(harness: Harness, prefix: str) -> Any:
    import boto3

    s3 = boto3.client("s3", endpoint_url=harness.settings.aws.endpoint_url, region_name=harness.settings.aws.region)
    for item in s3.list_objects_v2(Bucket=harness.settings.aws.bucket, Prefix=prefix).get("Contents", []):
        yield item["Key"]
