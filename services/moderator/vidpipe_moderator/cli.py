"""`vidpipe moderate VIDEO`: run the moderator engine on one file or URL and print the report as JSON.

Only typer and the standard library are imported here; the engine (PyAV, ONNX Runtime, OpenCV) loads when the
command runs, so `vidpipe --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def moderate_command(
    video: Annotated[str, typer.Argument(help="Video file path, or an http(s) URL such as a presigned S3 URL.")],
    audio_out: Annotated[
        Path | None,
        typer.Option("--audio-out", help="Write the speech track here as 16 kHz mono FLAC (removed if rejected)."),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress", help="Report progress on stderr.")] = False,
) -> None:
    """Validate a video, scan sampled frames with NudeNet and print the verdict as JSON.

    Exits 1 with the reason on stderr when the input is unusable (not a video, empty, truncated, no audio,
    over the limits), 75 when it could not be read right now; a rejected video is a successful run (exit 0).
    """
    import msgspec

    from vidpipe.errors import PermanentError, RetryableError
    from vidpipe_moderator.engine import load_moderator
    from vidpipe_moderator.settings import ModeratorSettings

    def report_progress(fraction: float, detail: str) -> None:
        sys.stderr.write(f"\r{fraction * 100:5.1f}% {detail:<30}")
        sys.stderr.flush()

    moderator = load_moderator(ModeratorSettings())
    try:
        report = moderator.moderate(video, audio_out=audio_out, progress=report_progress if progress else None)
    except (PermanentError, RetryableError) as exc:
        if progress:
            sys.stderr.write("\n")
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        # 75 is EX_TEMPFAIL: the input may be fine, reading it failed (e.g. an expired URL); try again.
        raise typer.Exit(code=75 if isinstance(exc, RetryableError) else 1) from None
    if progress:
        sys.stderr.write("\n")
    typer.echo(msgspec.json.format(msgspec.json.encode(report)).decode())
