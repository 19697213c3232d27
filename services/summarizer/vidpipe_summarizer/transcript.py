"""The summarizer's view of a transcript: what it reads from `vidpipe transcribe` JSON, and how it is shown
to the model.

Only the fields the summary needs are declared; msgspec ignores the rest (words, speakers, turns...), so the
transcriber may grow its output without breaking this stage.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from vidpipe.errors import PermanentError

# Languages the transcriber could not detect; the prompt then lets the model follow the text itself.
_UNKNOWN_LANGUAGES = {"", "und", "unknown"}
_WORD_RE = re.compile(r"\w+", re.UNICODE)


class TranscriptSegment(msgspec.Struct, frozen=True, kw_only=True):
    start: float
    end: float
    text: str
    speaker: str | None = None
    """Diarizer label (`SPEAKER_00`...); None when diarization was off."""


class Transcript(msgspec.Struct, frozen=True, kw_only=True):
    segments: list[TranscriptSegment]
    language: str | None = None
    """ISO 639-1 code; "und" or missing when unknown."""
    speaker_names: dict[str, str] = {}
    """Display names users gave to diarizer labels; labels without a name are shown as the label."""

    @property
    def duration(self) -> float:
        return max((segment.end for segment in self.segments), default=0.0)

    @property
    def known_language(self) -> str | None:
        return None if (self.language or "").strip().lower() in _UNKNOWN_LANGUAGES else self.language

    def speaker_display_name(self, label: str | None) -> str | None:
        if label is None:
            return None
        name = self.speaker_names.get(label, "").strip()
        return name or label


_transcript_decoder = msgspec.json.Decoder(Transcript)


def decode_transcript(data: bytes) -> Transcript:
    """Parse transcript JSON and reject transcripts there is nothing to summarise in."""
    try:
        transcript = _transcript_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise PermanentError("invalid_transcript", f"Transcript JSON is not valid: {exc}") from exc
    if not any(segment.text.strip() for segment in transcript.segments):
        raise PermanentError("empty_transcript", "The transcript has no spoken text to summarise.")
    return transcript


def load_transcript(path: Path) -> Transcript:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PermanentError("transcript_unreadable", f"Cannot read transcript {path}: {exc.strerror}") from exc
    return decode_transcript(data)


class TranscriptLine(msgspec.Struct, frozen=True):
    """One speaker turn as the model sees it: consecutive segments of a speaker merged."""

    start: float
    end: float
    speaker: str | None
    text: str

    def render(self) -> str:
        who = f"{self.speaker}: " if self.speaker else ""
        return f"[{format_timestamp(self.start)}] {who}{self.text}"


def format_timestamp(seconds: float) -> str:
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def speaker_turns(transcript: Transcript, *, max_chars: int = 1200) -> list[TranscriptLine]:
    """Merge consecutive segments of one speaker (fewer timestamps and names = fewer tokens), capped at
    `max_chars` so one monologue can still be split between chunks."""
    lines: list[TranscriptLine] = []
    for segment in sorted(transcript.segments, key=lambda s: s.start):
        text = " ".join(segment.text.split())
        if not text:
            continue
        speaker = transcript.speaker_display_name(segment.speaker)
        previous = lines[-1] if lines else None
        if previous and previous.speaker == speaker and len(previous.text) + len(text) < max_chars:
            lines[-1] = TranscriptLine(previous.start, segment.end, speaker, f"{previous.text} {text}")
        else:
            lines.append(TranscriptLine(segment.start, segment.end, speaker, text))
    return lines


def vocabulary(transcript: Transcript) -> set[str]:
    """Case-folded words of the transcript, what keywords are checked against."""
    return {word.casefold() for segment in transcript.segments for word in _WORD_RE.findall(segment.text)}


def words_of(text: str) -> list[str]:
    return [word.casefold() for word in _WORD_RE.findall(text)]
