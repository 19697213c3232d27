"""`vidpipe summarize TRANSCRIPT.json`: summarise a `vidpipe transcribe` JSON file and print the Summary JSON.

The engine comes from SUMMARIZER_* settings (local llama-server by default, or an OpenAI-compatible server).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from vidpipe.errors import PermanentError, RetryableError


def _parse_speaker_names(pairs: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for pair in pairs:
        label, sep, name = pair.partition("=")
        if not sep or not label.strip() or not name.strip():
            raise PermanentError("invalid_speaker_name", f"--speaker-name expects LABEL=Name, got {pair!r}")
        names[label.strip()] = name.strip()
    return names


def summarize_command(
    transcript_json_path: Annotated[
        Path, typer.Argument(help="Transcript JSON as printed by `vidpipe transcribe`.", show_default=False)
    ],
    speaker_name: Annotated[
        list[str] | None,
        typer.Option(
            "--speaker-name",
            "-s",
            help="Display name for a diarizer label, e.g. SPEAKER_00=Alice (repeatable).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")] = False,
) -> None:
    """Summarise a transcript: title, 2-4 sentence summary, keywords, chapters for long recordings."""
    from vidpipe.logging import configure_logging
    from vidpipe_summarizer.build import SetupError
    from vidpipe_summarizer.engine import load_engine
    from vidpipe_summarizer.llama_server import LlamaServerError
    from vidpipe_summarizer.schema import summary_encoder
    from vidpipe_summarizer.settings import SummarizerSettings
    from vidpipe_summarizer.transcript import load_transcript

    # stdout carries the JSON result only: log lines (the per-call profile, the server start) go to stderr,
    # and only with progress on.
    configure_logging("WARNING" if quiet else "INFO", "console")

    def progress(fraction: float, detail: str) -> None:
        if not quiet:
            typer.echo(f"[{fraction:4.0%}] {detail}", err=True)

    try:
        transcript = load_transcript(transcript_json_path)
        if speaker_name:
            names = {**transcript.speaker_names, **_parse_speaker_names(speaker_name)}
            transcript = msgspec.structs.replace(transcript, speaker_names=names)
        with load_engine(SummarizerSettings()) as engine:
            # The system prompt's cache is restored from the last run's saved state (or read and saved).
            engine.warm(every_server=False)
            summary = engine.summarize(transcript, progress=progress)
    except (PermanentError, RetryableError) as exc:
        typer.echo(f"error: {exc.message} ({exc.code})", err=True)
        raise typer.Exit(2 if isinstance(exc, PermanentError) else 75) from None
    except (LlamaServerError, SetupError, FileNotFoundError) as exc:
        typer.echo(f"error: local LLM engine unavailable: {exc}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.buffer.write(summary_encoder.encode(summary) + b"\n")
    sys.stdout.flush()
