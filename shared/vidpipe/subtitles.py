"""SRT and WebVTT subtitles from transcript segments: pure functions, safe for text a user typed.

Segments can run 30 s; a subtitle that long is unreadable, so segments with word timings are cut into cues
of at most `max_cue_seconds` / `max_cue_chars`, at word boundaries. Each cue is prefixed with its speaker
("Alice: …" in SRT, a `<v Alice>` voice span in VTT), using the user's names where given.

Cue text and speaker names may come from a user's edit, so nothing in them may change the file's structure:
line breaks (a blank line ends a cue, and a following "2\\n00:00:01,000 --> …" would be a cue of its own)
become spaces, an arrow `-->` is broken up, control and bidirectional-override characters are dropped, and in
VTT the markup characters `& < >` are escaped.

The writers take the platform's transcript segments (vidpipe.transcript), or anything of the same shape.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Protocol

MAX_CUE_SECONDS = 7.0
MAX_CUE_CHARS = 84

# Bidirectional embeddings, overrides and isolates: they reorder what a reader sees (an RLO can make
# "exe.txt" read as "txt.exe"), and a subtitle never needs them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BREAKS = re.compile(r"[\t\r\n\u0085\u2028\u2029\v\f]+")


class SubtitleWord(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def word(self) -> str: ...


class SubtitleSegment(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    @property
    def words(self) -> Sequence[SubtitleWord]: ...


def clean_cue_text(text: str) -> str:
    """One line of plain text: breaks become spaces; control, format-override and arrow sequences are gone."""
    text = _BREAKS.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" and ch not in BIDI_CONTROLS)
    # `-->` separates the timings of a cue; inside text some players take it for one.
    while "-->" in text:
        text = text.replace("-->", "->")
    return " ".join(text.split())


def to_srt(
    segments: Sequence[SubtitleSegment],
    speaker_names: Mapping[str, str] | None = None,
    *,
    max_cue_seconds: float = MAX_CUE_SECONDS,
    max_cue_chars: int = MAX_CUE_CHARS,
) -> str:
    blocks = []
    for index, (start, end, speaker, text) in enumerate(_cues(segments, max_cue_seconds, max_cue_chars), start=1):
        label = clean_cue_text(_speaker_name(speaker, speaker_names))
        line = f"{label}: {text}" if label else text
        blocks.append(f"{index}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{line}\n")
    return "\n".join(blocks)


def to_vtt(
    segments: Sequence[SubtitleSegment],
    speaker_names: Mapping[str, str] | None = None,
    *,
    max_cue_seconds: float = MAX_CUE_SECONDS,
    max_cue_chars: int = MAX_CUE_CHARS,
) -> str:
    blocks = ["WEBVTT\n"]
    for start, end, speaker, text in _cues(segments, max_cue_seconds, max_cue_chars):
        label = clean_cue_text(_speaker_name(speaker, speaker_names))
        body = _vtt_escape(text)
        line = f"<v {_vtt_escape(label)}>{body}" if label else body
        blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{line}\n")
    return "\n".join(blocks)


def _cues(
    segments: Sequence[SubtitleSegment], max_seconds: float, max_chars: int
) -> list[tuple[float, float, str | None, str]]:
    cues: list[tuple[float, float, str | None, str]] = []
    for segment in segments:
        if not segment.words:
            cues.append((segment.start, segment.end, segment.speaker, clean_cue_text(segment.text)))
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


def _cue(words: Sequence[SubtitleWord], speaker: str | None) -> tuple[float, float, str | None, str]:
    first, last = words[0], words[-1]
    text = clean_cue_text("".join(w.word for w in words))
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
