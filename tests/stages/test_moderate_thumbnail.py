"""The moderate stage stores a thumbnail (a frame it decoded anyway) for allowed videos only."""

from __future__ import annotations

import uuid
from pathlib import Path

import av
import pytest
import skimage.data

from vidpipe.messages import ModerateRequest
from vidpipe.stage import StageContext, StageOutcome
from vidpipe.testing import shipped_audio
from vidpipe_moderator.engine import load_moderator
from vidpipe_moderator.handler import make_handler, thumbnail_key
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

from ..harness import Harness, wait_until

pytestmark = pytest.mark.models

FLAG_FACES = '{"rules": {"FACE_FEMALE": {"flag_at": 0.5}}}'


async def moderate(harness: Harness, video: Path, policy: str | None = None) -> ModerateRequest:
    moderator = load_moderator(ModeratorSettings(policy_json=policy) if policy else ModeratorSettings())
    created = await harness.new_task()
    key = f"uploads/test/{uuid.uuid4()}/video.mp4"
    await harness.storage.upload_file(video, key, "video/mp4")
    message = ModerateRequest(task_id=created.task_id, media_id=created.media_id, trace_id="t", video_key=key)
    await harness.send(message)
    consumer = harness.consumer(make_handler(moderator))
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1, timeout_s=120)
    return message


async def stored_thumbnail_key(harness: Harness, message: ModerateRequest) -> str | None:
    async with harness.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT thumbnail_key FROM media WHERE id = %s", (message.media_id,))
        ).fetchone()
    assert row is not None
    key: str | None = row["thumbnail_key"]
    return key


async def test_an_allowed_video_gets_a_small_jpeg_of_its_first_frame(harness: Harness, tmp_path: Path) -> None:
    # Given a 640x360 video whose first picture is the coffee photo
    video = write_slideshow(
        tmp_path / "clean.mp4",
        [skimage.data.coffee(), colour_bars(640, 360)],
        seconds_per_image=3,
        fps=5,
        audio=shipped_audio("jfk.flac"),
    )
    message = await moderate(harness, video)

    # Then the media names a thumbnail under its own keys, and that object is a JPEG of at most 320 px
    key = await stored_thumbnail_key(harness, message)
    assert key == thumbnail_key(message) and key.startswith(f"media/{message.media_id}/")
    local = tmp_path / "thumb.jpg"
    size = await harness.storage.download_to(key, local)
    assert local.read_bytes()[:3] == b"\xff\xd8\xff" and size < 40_000
    with av.open(str(local)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 180)
        pixels = frame.to_ndarray(format="rgb24")
    # the coffee photo is brown (red over blue), not the colour bars of the later frames
    assert pixels[..., 0].mean() > pixels[..., 2].mean() + 20


async def test_a_flagged_video_gets_no_thumbnail(harness: Harness, tmp_path: Path) -> None:
    video = write_slideshow(
        tmp_path / "face.mp4", [skimage.data.astronaut()], seconds_per_image=4, fps=5, audio=shipped_audio("jfk.flac")
    )
    message = await moderate(harness, video, FLAG_FACES)
    assert await stored_thumbnail_key(harness, message) is None


async def test_a_video_deleted_while_it_is_moderated_leaves_no_audio_or_thumbnail(
    harness: Harness, tmp_path: Path
) -> None:
    # Given an allowed video whose owner deletes it while moderation runs: the gateway clears media/<id>/ and
    # removes the rows, and only then does the stage store the audio and thumbnail it made
    video = write_slideshow(
        tmp_path / "clean.mp4", [skimage.data.coffee()], seconds_per_image=2, fps=5, audio=shipped_audio("jfk.flac")
    )
    handle = make_handler(load_moderator(ModeratorSettings()))

    async def deleted_meanwhile(message: ModerateRequest, ctx: StageContext) -> StageOutcome:
        outcome = await handle(message, ctx)
        assert len(outcome.stored_objects) == 2  # the audio and the thumbnail, both stored by now
        async with harness.pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM media WHERE id = %s", (message.media_id,))
        return outcome

    created = await harness.new_task()
    key = f"uploads/test/{uuid.uuid4()}/video.mp4"
    await harness.storage.upload_file(video, key, "video/mp4")
    await harness.send(ModerateRequest(task_id=created.task_id, media_id=created.media_id, trace_id="t", video_key=key))
    consumer = harness.consumer(deleted_meanwhile)
    harness.start(consumer)
    await wait_until(lambda: consumer.processed == 1, timeout_s=120)
    # Then nothing the stage stored for the deleted video stays in the bucket
    assert await harness.storage.delete_prefix(f"media/{created.media_id}/") == 0
