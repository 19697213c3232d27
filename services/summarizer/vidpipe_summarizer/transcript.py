"""How the summarizer reads a transcript (the platform's one model, vidpipe.transcript) from `vidpipe transcribe`
JSON, and how it is shown to the model."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from vidpipe.errors import PermanentError
from vidpipe.transcript import Transcript, TranscriptSegment

__all__ = ["Transcript", "TranscriptLine", "TranscriptSegment", "decode_transcript", "load_transcript"]

_WORD_RE = re.compile(r"\w+", re.UNICODE)


class TranscriptFile(msgspec.Struct, frozen=True, kw_only=True):
    """What the summarizer reads from a transcript document: the segments, their language and length, and the
    names users gave. `vidpipe transcribe` prints speakers as plain labels while the stored transcript keeps
    them as objects with voices; a summary needs neither, so both shapes (and any other field) are accepted."""

    segments: list[TranscriptSegment]
    language: str = "und"
    duration: float = 0.0
    speaker_names: dict[str, str] = {}


_transcript_decoder = msgspec.json.Decoder(TranscriptFile)


def decode_transcript(data: bytes) -> Transcript:
    """Parse transcript JSON and reject transcripts there is nothing to summarise in."""
    try:
        document = _transcript_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise PermanentError("invalid_transcript", f"Transcript JSON is not valid: {exc}") from exc
    transcript = Transcript(**msgspec.structs.asdict(document))
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
        # No timestamp per line: a summary does not need them (chapter times come from where the chunks
        # are cut), and on a short meeting they were a quarter of the transcript's tokens.
        return f"{self.speaker}: {self.text}" if self.speaker else self.text


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
