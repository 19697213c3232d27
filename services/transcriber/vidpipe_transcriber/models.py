"""The transcriber's results and job options: msgspec Structs, because they cross into Postgres and the CLI.

Times are seconds from the start of the audio, rounded to milliseconds. Speaker labels are `SPEAKER_00`,
`SPEAKER_01`… numbered by first appearance, so the same audio always yields the same labels and the UI can
rename them without the machine original changing.
"""

from __future__ import annotations

import msgspec

from vidpipe.messages import SpeakerCount


class TranscribeOptions(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-job hints (the user's JobOptions plus what the engine layer adds)."""

    language: str | None = None
    """ISO 639-1 code ("en", "de"…); None lets the model detect it from the first speech."""
    min_speakers: SpeakerCount | None = None
    max_speakers: SpeakerCount | None = None
    hotwords: str | None = None
    """Names and jargon to bias decoding towards, e.g. "vidpipe, Litestar, pyannote"."""
    initial_prompt: str | None = None
    """Text the decoder sees before the first window, e.g. a glossary or the expected style."""
    diarize: bool = True


class SpeakerTurn(msgspec.Struct, frozen=True, kw_only=True):
    """Who spoke when, from the diarizer alone (no words): drives the timeline and DER scoring."""

    start: float
    end: float
    speaker: str


class TranscriptWord(msgspec.Struct, frozen=True, kw_only=True):
    start: float
    end: float
    word: str
    """As the model wrote it, with its leading space and punctuation ("  Hello,")."""
    probability: float
    speaker: str | None = None


class TranscriptSegment(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of one speaker's words; never spans a change of speaker."""

    start: float
    end: float
    speaker: str | None
    text: str
    words: list[TranscriptWord]


class SpeakerSummary(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    speech_seconds: float
    """Time the diarizer attributes to this speaker."""
    word_count: int


class Transcript(msgspec.Struct, frozen=True, kw_only=True):
    language: str
    """ISO 639-1 code, or "und" when there was no speech to detect it from."""
    language_probability: float
    duration: float
    engine: str
    model: str
    segments: list[TranscriptSegment]
    words: list[TranscriptWord]
    speakers: list[SpeakerSummary]
    turns: list[SpeakerTurn] = []

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)
