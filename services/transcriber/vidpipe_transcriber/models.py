"""The transcriber's job options; its results are the platform's one transcript model (vidpipe.transcript)."""

from __future__ import annotations

import msgspec

from vidpipe.messages import SpeakerCount
from vidpipe.transcript import SpeakerSummary, SpeakerTurn, Transcript, TranscriptSegment, TranscriptWord

__all__ = [
    "SpeakerSummary",
    "SpeakerTurn",
    "TranscribeOptions",
    "Transcript",
    "TranscriptSegment",
    "TranscriptWord",
]


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
