"""Synthetic videos for tests and benchmarks, encoded with PyAV at run time (videos are never checked in).

A slideshow of real photographs over real speech is close enough to an interview recording for what the
moderator does: each photo change is a hard scene cut, and the audio track is genuine speech resampled like an
upload's.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

RgbImage = NDArray[np.uint8]


def fit_to_canvas(image: RgbImage, width: int, height: int) -> RgbImage:
    """Scale `image` (RGB or grey) to fit width x height, centred on black, keeping its aspect ratio."""
    import cv2

    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w, new_h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def colour_bars(width: int, height: int) -> RgbImage:
    """Colour bars over a grey ramp: a frame with no person in it, like FFmpeg's lavfi `testsrc`."""
    bars = np.array(
        [[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0], [192, 0, 192], [192, 0, 0], [0, 0, 192]],
        dtype=np.uint8,
    )
    columns = (np.arange(width) * len(bars) // width).clip(0, len(bars) - 1)
    image = np.repeat(bars[columns][None, :, :], height, axis=0)
    ramp_rows = height // 4
    image[-ramp_rows:] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return image


def read_audio(path: Path | str, sample_rate: int, channels: int) -> NDArray[np.int16]:
    """Decode an audio file to interleaved-free planar int16, shape (channels, samples)."""
    layout = "mono" if channels == 1 else "stereo"
    resampler = av.AudioResampler(format="s16p", layout=layout, rate=sample_rate)
    chunks: list[NDArray[np.int16]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray().astype(np.int16) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().astype(np.int16) for out in resampler.resample(None))
    return np.concatenate(chunks, axis=1).astype(np.int16)


def write_slideshow(
    path: Path,
    images: Sequence[RgbImage],
    *,
    seconds_per_image: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    audio: Path | str | None = None,
    audio_rate: int = 44100,
    audio_channels: int = 2,
    loop_audio: bool = False,
    faststart: bool = False,
    include_video: bool = True,
    total_seconds: float | None = None,
) -> Path:
    """Encode H.264 + AAC MP4 (or whatever `path`'s extension implies) showing `images` in turn over `audio`.

    The audio is cut to, or with `loop_audio` repeated up to, the slideshow's length; without `audio` the file
    has no audio stream. `faststart` moves the index (moov) to the front, as uploads prepared for streaming
    have it. `include_video=False` writes an audio-only file of the same length. `total_seconds` ends the
    slideshow early, part-way through a photo if need be.
    """
    width, height = size
    frames_per_image = max(1, round(seconds_per_image * fps))
    total_frames = frames_per_image * len(images)
    if total_seconds is not None:
        total_frames = min(total_frames, round(total_seconds * fps))
    video_seconds = total_frames / fps
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as output:
        video_stream = None
        if include_video:
            video_stream = output.add_stream("libx264", rate=fps)
            video_stream.width, video_stream.height = width, height
            video_stream.pix_fmt = "yuv420p"
            # ultrafast keeps hour-long benchmark inputs cheap; the GOP makes seeking realistic for uploads.
            video_stream.codec_context.options = {"preset": "ultrafast", "g": str(fps * 2)}
        audio_stream = None
        samples: NDArray[np.int16] | None = None
        if audio is not None:
            audio_stream = output.add_stream("aac", rate=audio_rate)
            audio_stream.layout = "mono" if audio_channels == 1 else "stereo"
            samples = read_audio(audio, audio_rate, audio_channels)
            wanted = round(video_seconds * audio_rate)
            if loop_audio and samples.shape[1] < wanted:
                samples = np.tile(samples, (1, -(-wanted // samples.shape[1])))
            samples = samples[:, :wanted]

        audio_cursor = 0

        def mux_audio_until(sample_index: int) -> None:
            # Interleave audio with video as a camera or encoder would, so demuxing reads the file front to
            # back.
            nonlocal audio_cursor
            if audio_stream is None or samples is None:
                return
            chunk = 1024
            end = min(sample_index, samples.shape[1])
            while audio_cursor + chunk <= end or (audio_cursor < end and end == samples.shape[1]):
                part = np.ascontiguousarray(samples[:, audio_cursor : audio_cursor + chunk])
                aframe = av.AudioFrame.from_ndarray(part, format="s16p", layout=audio_stream.layout.name)
                aframe.sample_rate = audio_rate
                aframe.pts = audio_cursor
                aframe.time_base = Fraction(1, audio_rate)
                output.mux(audio_stream.encode(aframe))
                audio_cursor += part.shape[1]

        frame_index = 0
        for image in images:
            frame = None
            if video_stream is not None:
                frame = av.VideoFrame.from_ndarray(fit_to_canvas(image, width, height), format="rgb24")
            for _ in range(min(frames_per_image, total_frames - frame_index)):
                if video_stream is not None and frame is not None:
                    frame.pts = frame_index
                    frame.time_base = Fraction(1, fps)
                    output.mux(video_stream.encode(frame))
                frame_index += 1
                mux_audio_until(round(frame_index / fps * audio_rate))
        if video_stream is not None:
            output.mux(video_stream.encode(None))
        if audio_stream is not None:
            mux_audio_until(10**12)
            output.mux(audio_stream.encode(None))
    return path
