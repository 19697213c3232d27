"""Media validation and the single decode pass (PyAV, in-process, no ffmpeg subprocess).

`scan_media` opens the input once, validates what the container claims, then reads every packet once: video
frames feed the scene-cut check and the frame selection, audio frames are resampled to 16 kHz mono and encoded
to FLAC. Decoding to the end is also how truncation is caught: a faststart MP4 cut short keeps its full index,
so PyAV opens it and decodes what is there without complaint; only the decoded end falling short of the stated
duration (or of the stated frame count) gives it away.

Sources: a local path, an http(s) URL (a presigned S3 URL streams with range requests), or a binary file
object. An MP4 with its index at the end needs seeking, so file objects must be seekable; prefer a URL for S3.
"""

from __future__ import annotations

import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from vidpipe.errors import PermanentError, RetryableError
from vidpipe.stage import ProgressReporter
from vidpipe_moderator.results import AudioStreamInfo, AudioTrack, FrameTrigger, MediaInfo, VideoStreamInfo
from vidpipe_moderator.sampling import FrameSelector, SamplingPlan
from vidpipe_moderator.settings import ModeratorSettings

MediaSource = str | os.PathLike[str] | IO[bytes]

AUDIO_RATE = 16000
THUMBNAIL_SIZE = (64, 36)
# A few undecodable packets are normal in camera and screen recordings (FFmpeg conceals them); many mean the
# stream is damaged beyond what a transcript or a moderation verdict can rely on.
MAX_DECODE_ERRORS = 25
# Demuxers that read single pictures: an image renamed .mp4 opens as a one-frame "video".
IMAGE_DEMUXERS = ("image2", "_pipe", "gif", "apng", "webp")


@dataclass(slots=True)
class SampledFrame:
    timestamp_s: float
    trigger: FrameTrigger
    image: NDArray[np.uint8]  # RGB, downscaled to fit the detector's input square


@dataclass(slots=True)
class MediaScan:
    info: MediaInfo
    frames: list[SampledFrame]
    scene_cuts_s: list[float]
    decoded_duration_s: float
    audio: AudioTrack | None
    decode_s: float
    decode_errors: int = 0
    scale_to_source: float = 1.0  # multiply sampled-frame pixels by this to get the video's own pixels


def is_url(source: MediaSource) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def describe(source: MediaSource) -> str:
    if isinstance(source, str | os.PathLike):
        text = os.fspath(source)
        return text.split("?", 1)[0] if is_url(source) else text  # never log a presigned URL's signature
    return getattr(source, "name", None) or "<stream>"


def _source_size(source: MediaSource) -> int | None:
    """The byte size where it is cheap to know (local file, seekable file object); None otherwise."""
    if is_url(source):
        return None
    if isinstance(source, str | os.PathLike):
        try:
            return Path(source).stat().st_size
        except FileNotFoundError as exc:
            raise PermanentError("file_not_found", f"The file {describe(source)} does not exist.") from exc
    try:
        position = source.tell()
        size = source.seek(0, os.SEEK_END)
        source.seek(position)
        return size
    except (OSError, AttributeError, ValueError):
        return None


def _leading_bytes(source: MediaSource, count: int = 12) -> bytes:
    if is_url(source):
        # Only after FFmpeg gave up: one small ranged GET to tell a cut-short upload from a non-video.
        assert isinstance(source, str)
        request = urllib.request.Request(source, headers={"Range": f"bytes=0-{count - 1}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own presigned URL)
                head: bytes = response.read(count)
                return head
        except OSError:
            return b""
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            return handle.read(count)
    try:
        position = source.tell()
        head = source.read(count)
        source.seek(position)
        return head
    except (OSError, AttributeError, ValueError):
        return b""


def _open_error(source: MediaSource, exc: Exception) -> Exception:
    """Turn PyAV's open failures into stage errors a user can read; unknown ones stay retryable."""
    import av

    name = describe(source)
    if isinstance(exc, av.error.HTTPNotFoundError | av.error.FileNotFoundError):
        return PermanentError("file_not_found", f"The media {name} does not exist.")
    if isinstance(exc, av.error.HTTPForbiddenError | av.error.HTTPUnauthorizedError):
        # An expired presigned URL: a new attempt gets a fresh one.
        return RetryableError("media_forbidden", f"Access to {name} was refused; the URL may have expired.")
    if isinstance(exc, av.error.HTTPError | av.error.TimeoutError | av.error.ConnectionRefusedError):
        return RetryableError("media_unreachable", f"Could not read {name}: {exc}")
    if isinstance(exc, av.error.InvalidDataError | av.error.DemuxerNotFoundError | av.error.EOFError):
        head = _leading_bytes(source)
        if head[4:8] == b"ftyp":
            return PermanentError(
                "truncated_media",
                "The file starts like an MP4/MOV video but its index (moov) is missing: the upload was "
                "probably cut short. Upload the complete file again.",
            )
        return PermanentError("not_media", "The file is not a video FFmpeg can read (unknown or damaged format).")
    return RetryableError("media_open_failed", f"Could not open {name}: {exc}")


def _stream_seconds(stream: Any) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _probe(container: Any, size_bytes: int | None, settings: ModeratorSettings) -> MediaInfo:
    """Validate what the container says about itself; raises PermanentError with a stable code."""
    import av

    format_name: str = container.format.name
    if any(marker in format_name for marker in IMAGE_DEMUXERS) and not container.streams.audio:
        raise PermanentError("not_media", f"The file is a still image ({format_name}), not a video.")
    video_streams = [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)  # cover art of an audio file is no video
    ]
    if not video_streams and not container.streams.audio:
        raise PermanentError(
            "no_media_streams",
            "The file has neither a video nor an audio stream, so there is nothing to moderate or transcribe.",
        )
    if not container.streams.audio:
        raise PermanentError("no_audio_stream", "The video has no audio track, so there is nothing to transcribe.")
    # An audio-only recording (a meeting's m4a, a voice memo) is accepted: it just has no pictures to check.
    video = video_streams[0] if video_streams else None
    audio = container.streams.audio[0]
    actx = audio.codec_context
    if video is not None and (not video.codec_context.width or not video.codec_context.height):
        raise PermanentError("corrupt_media", "The video stream states no picture size; the file is damaged.")

    duration = container.duration / 1_000_000 if container.duration else None
    duration = duration or _stream_seconds(video if video is not None else audio)
    if duration is None:
        # Streamed WebM/MKV may not state a duration; the decode pass enforces the limit instead.
        duration = 0.0
    if duration > settings.max_duration_s:
        raise PermanentError(
            "duration_over_limit",
            f"The recording lasts {duration / 60:.1f} min; the limit is {settings.max_duration_s / 60:.1f} min.",
        )
    size = size_bytes if size_bytes is not None else (container.size if container.size > 0 else None)
    if size is not None and size > settings.max_size_bytes:
        raise PermanentError(
            "file_too_large",
            f"The file is {size / 1024**3:.2f} GiB; the limit is {settings.max_size_bytes / 1024**3:.2f} GiB",
        )
    return MediaInfo(
        container=format_name,
        duration_s=round(duration, 3),
        size_bytes=size,
        bit_rate=container.bit_rate or None,
        video=_video_info(video) if video is not None else None,
        audio=AudioStreamInfo(
            codec=actx.name,
            sample_rate=actx.sample_rate,
            channels=actx.layout.nb_channels,
            duration_s=_stream_seconds(audio),
        ),
    )


def _video_info(video: Any) -> VideoStreamInfo:
    vctx = video.codec_context
    rate = video.average_rate or video.guessed_rate
    return VideoStreamInfo(
        codec=vctx.name,
        width=vctx.width,
        height=vctx.height,
        fps=round(float(rate), 3) if rate else None,
        frame_count=video.frames or None,
        duration_s=_stream_seconds(video),
    )


def _open(source: MediaSource, settings: ModeratorSettings) -> tuple[Any, int | None]:
    import av

    size = _source_size(source)
    if size == 0:
        raise PermanentError("empty_file", "The file is empty (0 bytes); the upload did not complete.")
    if size is not None and size > settings.max_size_bytes:
        raise PermanentError(
            "file_too_large",
            f"The file is {size / 1024**3:.2f} GiB; the limit is {settings.max_size_bytes / 1024**3:.2f} GiB",
        )
    target = os.fspath(source) if isinstance(source, str | os.PathLike) else source
    try:
        container = av.open(target, mode="r", timeout=settings.read_timeout_s if is_url(source) else None)
    except av.error.FFmpegError as exc:
        raise _open_error(source, exc) from exc
    return container, size


def probe_media(source: MediaSource, settings: ModeratorSettings) -> MediaInfo:
    """Open and validate without decoding (reads the header only): the cheap check, e.g. for a gateway."""
    container, size = _open(source, settings)
    with container:
        return _probe(container, size, settings)


def _fit_within(width: int, height: int, side: int) -> tuple[int, int]:
    """Even dimensions no larger than `side` keeping the aspect ratio (the source size if already small)."""
    scale = min(1.0, side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class _FlacWriter:
    """16 kHz mono FLAC from any decoded audio; FLAC is lossless and about half the size of 16-bit WAV."""

    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        self._container = av.open(os.fspath(path), mode="w", format="flac")
        self._stream = self._container.add_stream("flac", rate=AUDIO_RATE)
        self._stream.layout = "mono"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        self.samples = 0

    def write(self, frame: Any) -> None:
        for resampled in self._resampler.resample(frame):
            self.samples += resampled.samples
            resampled.pts = None  # let the encoder count samples; source timestamps may jump
            self._container.mux(self._stream.encode(resampled))

    def finish(self) -> AudioTrack:
        self.write(None)  # flush the resampler's tail
        self._container.mux(self._stream.encode(None))
        self._container.close()
        return AudioTrack(
            path=os.fspath(self.path),
            duration_s=round(self.samples / AUDIO_RATE, 3),
            size_bytes=self.path.stat().st_size,
        )

    def abort(self) -> None:
        self._container.close()
        self.path.unlink(missing_ok=True)


def scan_media(
    source: MediaSource,
    settings: ModeratorSettings,
    *,
    audio_out: Path | None = None,
    progress: ProgressReporter | None = None,
    progress_share: float = 1.0,
) -> MediaScan:
    """Validate, then read the file once: sample frames for the detector and write audio to `audio_out`.

    Raises PermanentError (bad input: code and message for the user) or RetryableError (could not read it
    now). Progress is reported as seconds decoded over the stated duration, scaled to `progress_share`.
    """
    import av

    started = time.perf_counter()
    container, size = _open(source, settings)
    writer: _FlacWriter | None = None
    try:
        info = _probe(container, size, settings)
        video = next(
            (s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None
        )
        audio = container.streams.audio[0]
        if video is not None:
            video.thread_type = "AUTO"  # frame threading: decoding is most of this pass's cost

        planned_duration = info.duration_s or settings.max_duration_s
        plan = SamplingPlan.for_duration(
            planned_duration, interval_s=settings.sample_interval_s, max_frames=settings.max_frames
        )
        selector = FrameSelector(
            plan,
            scene_threshold=settings.scene_threshold,
            scene_check_interval_s=settings.scene_check_interval_s,
        )
        sample_w, sample_h = (
            _fit_within(info.video.width, info.video.height, settings.inference_resolution) if info.video else (2, 2)
        )

        if audio_out is not None:
            writer = _FlacWriter(Path(audio_out))

        video_origin = (
            float(video.start_time * video.time_base) if video is not None and video.start_time is not None else None
        )
        audio_origin = float(audio.start_time * audio.time_base) if audio.start_time is not None else None
        frames: list[SampledFrame] = []
        video_frames = 0
        video_end = audio_end = 0.0
        decode_errors = 0
        frame_period = 1.0 / info.video.fps if info.video and info.video.fps else 0.0
        next_progress = 0.0

        for packet in container.demux(*(s for s in (video, audio) if s is not None)):
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                decode_errors += 1
                if decode_errors > MAX_DECODE_ERRORS:
                    raise PermanentError(
                        "corrupt_media",
                        f"The file is damaged: over {MAX_DECODE_ERRORS} packets failed to decode.",
                    ) from None
                continue
            except av.error.FFmpegError as exc:
                raise PermanentError("corrupt_media", f"The file could not be decoded: {exc}") from exc
            for frame in decoded:
                if packet.stream is audio:
                    if frame.time is not None:
                        audio_origin = frame.time if audio_origin is None else audio_origin
                        audio_end = max(audio_end, frame.time - audio_origin + frame.samples / frame.sample_rate)
                    if writer is not None:
                        writer.write(frame)
                    if video is None and progress is not None and info.duration_s and audio_end >= next_progress:
                        progress(min(1.0, audio_end / info.duration_s) * progress_share, f"decoded {audio_end:.0f} s")
                        next_progress = audio_end + max(1.0, info.duration_s / 100)
                    continue
                if frame.time is not None:
                    video_origin = frame.time if video_origin is None else video_origin
                    timestamp = max(0.0, frame.time - video_origin)
                else:  # no timestamps (rare raw streams): count frames instead
                    timestamp = video_frames * frame_period
                video_frames += 1
                video_end = max(video_end, timestamp + frame_period)
                if timestamp > settings.max_duration_s + settings.truncation_tolerance_s:
                    raise PermanentError(
                        "duration_over_limit",
                        f"The video runs past the limit of {settings.max_duration_s / 60:.1f} min "
                        "(its header understated the duration).",
                    )
                thumbnail = None
                if selector.wants_thumbnail(timestamp):
                    thumbnail = frame.to_ndarray(
                        format="gray", width=THUMBNAIL_SIZE[0], height=THUMBNAIL_SIZE[1], interpolation="AREA"
                    )
                trigger = selector.select(timestamp, thumbnail)
                if trigger is not None:
                    image = frame.to_ndarray(format="rgb24", width=sample_w, height=sample_h, interpolation="AREA")
                    frames.append(SampledFrame(timestamp_s=round(timestamp, 3), trigger=trigger, image=image))
                if progress is not None and info.duration_s and timestamp >= next_progress:
                    progress(min(1.0, timestamp / info.duration_s) * progress_share, f"decoded {timestamp:.0f} s")
                    next_progress = timestamp + max(1.0, info.duration_s / 100)

        _check_complete(info, video_frames, video_end, audio_end, settings)
        track = writer.finish() if writer is not None else None
        writer = None  # finished: the clean-up below must not delete it
        return MediaScan(
            info=info,
            frames=frames,
            scene_cuts_s=selector.scene_cuts_s,
            decoded_duration_s=round(max(video_end, audio_end), 3),
            audio=track,
            decode_s=time.perf_counter() - started,
            decode_errors=decode_errors,
            scale_to_source=info.video.width / sample_w if info.video else 1.0,
        )
    finally:
        if writer is not None:  # failed part-way: leave no partial audio behind for the caller to upload
            writer.abort()
        container.close()


def _check_complete(
    info: MediaInfo, video_frames: int, video_end: float, audio_end: float, settings: ModeratorSettings
) -> None:
    """Catch files that decode cleanly but end early: the truncated-faststart case."""
    tolerance = settings.truncation_tolerance_s
    if info.video is not None and video_frames == 0:
        raise PermanentError("corrupt_media", "No video frame could be decoded; the file is damaged.")
    if audio_end == 0.0:
        raise PermanentError("corrupt_media", "No audio could be decoded; the audio track is damaged or empty.")
    shortfalls: list[str] = []
    if info.video is not None:
        stated_video = info.video.duration_s or info.duration_s
        if stated_video and video_end + tolerance < stated_video:
            shortfalls.append(f"video ends at {video_end:.1f} s of a stated {stated_video:.1f} s")
        stated_frames = info.video.frame_count
        fps = info.video.fps or 0.0
        if stated_frames and video_frames + max(2.0, fps * tolerance) < stated_frames:
            shortfalls.append(f"{video_frames} of {stated_frames} stated frames decoded")
    elif info.audio.duration_s is None and info.duration_s and audio_end + tolerance < info.duration_s:
        # Audio only, a stream without its own duration: the container's is the audio's.
        shortfalls.append(f"audio ends at {audio_end:.1f} s of a stated {info.duration_s:.1f} s")
    # Only the audio stream's own duration counts: a container duration may be the video's, and an audio
    # track legitimately shorter than the picture is not damage.
    stated_audio = info.audio.duration_s
    if stated_audio and audio_end + tolerance < stated_audio:
        shortfalls.append(f"audio ends at {audio_end:.1f} s of a stated {stated_audio:.1f} s")
    if shortfalls:
        raise PermanentError(
            "truncated_media",
            "The file is incomplete (" + "; ".join(shortfalls) + "): the upload was probably cut short. "
            "Upload the complete file again.",
        )
