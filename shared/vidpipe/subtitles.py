"""SRT and WebVTT subtitles from transcript segments: pure functions (the gateway serves them for download).

Segments can run 30 s; a subtitle that long is unreadable, so segments with word timings are cut into cues
of at most `max_cue_seconds` / `max_cue_chars`, at word boundaries. Each cue is prefixed with its speaker
("Alice: …" in SRT, a `<v Alice>` voice span in VTT), using the user's names where given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vidpipe.transcript import TranscriptSegment, TranscriptWord

MAX_CUE_SECONDS = 7.0
MAX_CUE_CHARS = 84


def to_srt(
    segments: Sequence[TranscriptSegment],
    speaker_names: Mapping[str, str] | None = None,
    *,
    max_cue_seconds: float = MAX_CUE_SECONDS,
    max_cue_chars: int = MAX_CUE_CHARS,
) -> str:
    blocks = []
    for index, (start, end, speaker, text) in enumerate(_cues(segments, max_cue_seconds, max_cue_chars), start=1):
        label = _speaker_name(speaker, speaker_names)
        line = f"{label}: {text}" if label else text
        blocks.append(f"{index}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{line}\n")
    return "\n".join(blocks)


def to_vtt(
    segments: Sequence[TranscriptSegment],
    speaker_names: Mapping[str, str] | None = None,
    *,
    max_cue_seconds: float = MAX_CUE_SECONDS,
    max_cue_chars: int = MAX_CUE_CHARS,
) -> str:
    blocks = ["WEBVTT\n"]
    for start, end, speaker, text in _cues(segments, max_cue_seconds, max_cue_chars):
        label = _speaker_name(speaker, speaker_names)
        body = _vtt_escape(text)
        line = f"<v {_vtt_escape(label)}>{body}" if label else body
        blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{line}\n")
    return "\n".join(blocks)


def _cues(
    segments: Sequence[TranscriptSegment], max_seconds: float, max_chars: int
) -> list[tuple[float, float, str | None, str]]:
    cues: list[tuple[float, float, str | None, str]] = []
    for segment in segments:
        if not segment.words:
            if segment.text.strip():
                cues.append((segment.start, segment.end, segment.speaker, segment.text.strip()))
            continue
        run = [segment.words[0]]
        for word in segment.words[1:]:
            text = "".join(w.word for w in [*run, word]).strip()
            if word.end - run[0].start > max_seconds or len(text) > max_chars:
                cues.append(_cue(run, segment.speaker))
                run = [word]
            else:
                run.append(word)
        cues.append(_cue(run, segment.speaker))
    return [c for c in cues if c[3]]


def _cue(words: Sequence[TranscriptWord], speaker: str | None) -> tuple[float, float, str | None, str]:
    first, last = words[0], words[-1]
    text = " ".join("".join(w.word for w in words).split())
    return (first.start, max(last.end, first.start), speaker, text)


def _speaker_name(speaker: str | None, names: Mapping[str, str] | None) -> str:
    if speaker is None:
        return ""
    return (names or {}).get(speaker, speaker)


def _timestamp(seconds: float, decimal_mark: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_mark}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
