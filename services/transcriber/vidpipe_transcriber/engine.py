"""The transcription engine interface, the one-call-per-job entry point `run`, and what both engines share.

settings = TranscriberSettings()          # once, at start-up
engine = load_engine(settings)            # vidpipe_transcriber.loader: once per process, loads every model
transcript = run(engine, "talk.mp4", TranscribeOptions(language="en"), progress=report)

This module imports no engine: the engines import it (for `Progress`, `assemble_transcript`, `clean_words`),
and `loader.load_engine` picks one, so the dependencies run one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from vidpipe.errors import PermanentError
from vidpipe.stage import ProgressReporter
from vidpipe_transcriber.audio import SAMPLE_RATE, Waveform, decode_audio
from vidpipe_transcriber.models import SpeakerTurn, TranscribeOptions, Transcript, TranscriptWord
from vidpipe_transcriber.speakers import (
    assign_speakers,
    relabel_by_first_appearance,
    snap_changes_to_sentence_ends,
    split_at_speaker_changes,
    summarise_speakers,
)

Progress = ProgressReporter  # the platform's one progress type
"""fraction done in [0, 1], short human-readable detail."""


class TranscriptionEngine(Protocol):
    """Loaded models behind one method; production (WhisperX) and local (faster-whisper) are interchangeable."""

    name: str
    model_name: str
    max_audio_seconds: float

    def transcribe(
        self, audio: Waveform, options: TranscribeOptions, progress: Progress | None = None
    ) -> Transcript: ...


def run(
    engine: TranscriptionEngine,
    path: str | Path,
    options: TranscribeOptions | None = None,
    progress: Progress | None = None,
) -> Transcript:
    """Transcribe one audio or video file. Raises PermanentError for bad input or bad options."""
    options = options or TranscribeOptions()
    validate_options(options)
    audio = decode_audio(path, max_seconds=engine.max_audio_seconds)
    if progress is not None:
        progress(0.0, f"decoded {audio.shape[0] / SAMPLE_RATE:.0f} s of audio")
    return engine.transcribe(audio, options, progress)


def validate_options(options: TranscribeOptions) -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if options.language is not None and options.language not in _LANGUAGE_CODES:
        raise PermanentError(
            "unsupported_language",
            f"Language {options.language!r} is not one Whisper knows; use an ISO 639-1 code such as 'en'.",
        )
    low, high = options.min_speakers, options.max_speakers
    if low is not None and high is not None and low > high:
        raise PermanentError("invalid_speaker_hint", f"min_speakers ({low}) is larger than max_speakers ({high}).")


def assemble_transcript(
    *,
    engine: str,
    model: str,
    language: str,
    language_probability: float,
    duration: float,
    asr_segments: Sequence[Sequence[TranscriptWord]],
    turns: Sequence[SpeakerTurn],
    diarized: bool,
) -> Transcript:
    """Words + turns → the final Transcript (shared by both engines so they label speakers identically)."""
    words = [w for segment in asr_segments for w in segment]
    speakers = snap_changes_to_sentence_ends(words, assign_speakers(words, turns)) if diarized else [None] * len(words)
    segments = split_at_speaker_changes(asr_segments, speakers)
    segments, labelled_turns, _ = relabel_by_first_appearance(segments, turns)
    return Transcript(
        language=language,
        language_probability=round(language_probability, 4),
        duration=round(duration, 3),
        engine=engine,
        model=model,
        segments=segments,
        words=[w for s in segments for w in s.words],
        speakers=summarise_speakers(segments, labelled_turns),
        turns=labelled_turns,
    )


def clean_words(words: Sequence[TranscriptWord], duration: float, floor: float = 0.0) -> list[TranscriptWord]:
    """Clamp word times into the audio and make them monotonic (DTW can nudge a word before its neighbour)."""
    out: list[TranscriptWord] = []
    previous_start = floor
    for word in words:
        if not word.word.strip():
            continue
        # float(): faster-whisper hands back numpy scalars, which msgspec will not encode.
        start = min(max(float(word.start), previous_start, 0.0), duration)
        end = min(max(float(word.end), start), duration)
        out.append(
            TranscriptWord(
                start=round(start, 3),
                end=round(end, 3),
                word=word.word,
                probability=round(float(word.probability), 4),
                speaker=word.speaker,
            )
        )
        previous_start = start
    return out
