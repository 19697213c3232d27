"""Decoding any audio or video file to the 16 kHz mono float32 waveform every model here expects.

Memory: the waveform is held once, in one array, and every later step (VAD, ASR windows, speaker embeddings)
reads views of it. 16 kHz float32 is 3.84 MB per minute, 460 MB for two hours. The array is sized from the
container's duration before decoding, so decoding does not need a second full-size copy for a final
concatenate (only when a container does not know its duration do we grow it, which may copy once).
Streaming the ASR straight off the decoder would save those 460 MB but costs a second decode for diarization,
and the transcriber's GPU box has RAM to spare; `max_audio_seconds` bounds the worst case instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vidpipe.errors import PermanentError

SAMPLE_RATE = 16_000

Waveform = npt.NDArray[np.float32]


def decode_audio(path: str | Path, *, max_seconds: float | None = None) -> Waveform:
    """Decode the first audio stream of `path` to 16 kHz mono float32 in [-1, 1].

    Raises PermanentError for a missing file, a file PyAV cannot read, a file with no audio stream, or
    audio longer than `max_seconds`. Zero-length audio is returned as an empty array (an empty transcript,
    not an error: a silent clip is a valid upload).
    """
    import av

    source = Path(path)
    if not source.is_file():
        raise PermanentError("file_not_found", f"No such file: {source}")
    try:
        container = av.open(str(source), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise PermanentError("undecodable_media", f"Cannot read {source.name} as audio or video: {exc}") from exc

    with container:
        if not container.streams.audio:
            raise PermanentError("no_audio_stream", f"{source.name} has no audio track to transcribe.")
        stream = container.streams.audio[0]
        known_seconds = _duration_seconds(container, stream)
        if max_seconds is not None and known_seconds is not None and known_seconds > max_seconds:
            raise _too_long(known_seconds, max_seconds)

        # A second of headroom absorbs resampler delay and containers that understate their duration.
        capacity = int(((known_seconds or 60.0) + 1.0) * SAMPLE_RATE)
        buffer = np.empty(capacity, dtype=np.float32)
        filled = 0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    buffer, filled = _append(buffer, filled, out.to_ndarray().reshape(-1), max_seconds)
            for out in resampler.resample(None):
                buffer, filled = _append(buffer, filled, out.to_ndarray().reshape(-1), max_seconds)
        except av.error.FFmpegError as exc:
            raise PermanentError("undecodable_media", f"Audio of {source.name} is corrupt: {exc}") from exc

    waveform = buffer[:filled]
    np.clip(waveform, -1.0, 1.0, out=waveform)
    return waveform


def _append(
    buffer: Waveform, filled: int, samples: npt.NDArray[Any], max_seconds: float | None
) -> tuple[Waveform, int]:
    end = filled + samples.shape[0]
    if max_seconds is not None and end > max_seconds * SAMPLE_RATE:
        raise _too_long(end / SAMPLE_RATE, max_seconds)
    if end > buffer.shape[0]:
        grown = np.empty(max(end, int(buffer.shape[0] * 1.5)), dtype=np.float32)
        grown[:filled] = buffer[:filled]
        buffer = grown
    buffer[filled:end] = samples
    return buffer, end


def _duration_seconds(container: object, stream: object) -> float | None:
    duration = getattr(stream, "duration", None)
    time_base = getattr(stream, "time_base", None)
    if duration is not None and time_base is not None:
        return float(duration * time_base)
    container_duration = getattr(container, "duration", None)
    if container_duration is not None:
        return float(container_duration) / 1_000_000  # AV_TIME_BASE
    return None


def _too_long(seconds: float, limit: float) -> PermanentError:
    return PermanentError(
        "audio_too_long",
        f"The audio lasts {seconds / 60:.0f} min; this service transcribes up to {limit / 60:.0f} min.",
    )
