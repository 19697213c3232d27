"""The `vidpipe` command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from vidpipe.dlq import dlq_app
from vidpipe.plugins import installed_commands
from vidpipe.settings import STAGES, Stage, load_settings

app = typer.Typer(help="vidpipe: moderated, speaker-labelled, summarised transcripts of videos.", no_args_is_help=True)
err = Console(stderr=True)

DEMO_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "jfk-demo.mp4"


@app.command()
def migrate() -> None:
    """Apply pending SQL migrations to DB_URL."""
    from vidpipe.db.migrate import apply_migrations

    applied = apply_migrations(load_settings().db.url.get_secret_value())
    err.print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'already up to date'}")


@app.command()
def provision() -> None:
    """Create the queues (with DLQs and redrive) and the bucket (with CORS) on AWS_ENDPOINT_URL."""
    from vidpipe.provision import provision as create

    made = create(load_settings())
    err.print(f"bucket {made.bucket}; queues: {', '.join(sorted(made.queue_urls))}")


@app.command()
def worker(
    stage: Annotated[str, typer.Argument(help=f"one of {', '.join(STAGES)}")],
    handler: Annotated[str | None, typer.Option(help="module:factory to run instead of the stage's own")] = None,
) -> None:
    """Run a stage worker until SIGTERM or Ctrl-C."""
    from vidpipe.logging import configure_logging
    from vidpipe.worker import run_worker

    if stage not in STAGES:
        raise typer.BadParameter(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(stage, settings, handler_override=handler))


@app.command()
def token(
    subject: Annotated[str, typer.Argument(help="user id (the token's `sub`)")] = "local-user",
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Mint a bearer token for a local user (needs AUTH_JWT_SECRET, or a running `vidpipe dev`)."""
    print(_local_token(subject, email))


def _local_token(subject: str, email: str | None = None) -> str:
    from vidpipe.devstack import read_state
    from vidpipe.settings import AuthSettings
    from vidpipe.tokens import mint_local_token

    auth = AuthSettings()
    if auth.jwt_secret is None and (state := read_state()):
        auth = AuthSettings(jwt_secret=state["jwt_secret"])
    if auth.jwt_secret is None:
        raise typer.BadParameter("set AUTH_JWT_SECRET or start `vidpipe dev` first")
    return mint_local_token(auth, subject, email=email)


@app.command()
def dev(
    stages: Annotated[str, typer.Option(help="comma-separated stages to run workers for")] = ",".join(STAGES),
    port: Annotated[int, typer.Option(help="gateway port (0: a free one)")] = 0,
) -> None:
    """Start the embedded stack (Postgres, moto SQS+S3, gateway, workers) until Ctrl-C."""
    from vidpipe.devstack import DevStack

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with DevStack(stages=_stages(stages), gateway_port=port) as stack:
        while not stop.wait(1.0):
            stack.check_children()
        err.print("stopping…")


def _stages(text: str) -> tuple[Stage, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise typer.BadParameter(f"unknown stage(s): {', '.join(unknown)}")
    return chosen  # type: ignore[return-value]


@app.command()
def process(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    language: Annotated[str | None, typer.Option(help="spoken language, e.g. en (detected if unset)")] = None,
    min_speakers: Annotated[int | None, typer.Option()] = None,
    max_speakers: Annotated[int | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Upload FILE through the gateway, follow its status, print transcript, speakers, summary, keywords.

    The gateway is VIDPIPE_GATEWAY_URL (token: VIDPIPE_TOKEN), else the local `vidpipe dev` stack.
    """
    from vidpipe.devstack import read_state

    base_url = os.environ.get("VIDPIPE_GATEWAY_URL")
    token_value = os.environ.get("VIDPIPE_TOKEN")
    if base_url is None:
        state = read_state()
        if state is None:
            err.print("[red]no gateway: start `vidpipe dev` or set VIDPIPE_GATEWAY_URL[/]")
            raise typer.Exit(2)
        base_url = state["gateway_url"]
    token_value = token_value or _local_token("local-user")
    _process(base_url, token_value, file, language, min_speakers, max_speakers, as_json)


def _process(
    base_url: str,
    token_value: str,
    file: Path,
    language: str | None,
    min_speakers: int | None,
    max_speakers: int | None,
    as_json: bool,
) -> None:
    from vidpipe.client import ProcessingFailedError, print_result, process_file

    options: dict[str, Any] = {
        k: v for k, v in {"language": language, "min_speakers": min_speakers, "max_speakers": max_speakers}.items() if v
    }
    try:
        media = process_file(base_url, token_value, file, options, err)
    except ProcessingFailedError as failure:
        err.print(f"[red bold]{failure.status}[/]: {failure.message} [dim]({failure.code})[/]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(media, indent=2, default=str))
    else:
        print_result(media, Console())


@app.command()
def demo(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)] = DEMO_SAMPLE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start the embedded stack, process FILE (a bundled sample by default), print the result, stop."""
    from vidpipe.devstack import DevStack
    from vidpipe.settings import AuthSettings
    from vidpipe.tokens import mint_local_token

    with DevStack() as stack:
        secret = stack.env["AUTH_JWT_SECRET"]
        token_value = mint_local_token(AuthSettings(jwt_secret=secret), "demo-user")
        _process(stack.gateway_url, token_value, file, None, None, None, as_json)


app.add_typer(dlq_app, name="dlq")

# Commands the installed services contribute (`gateway`, `moderate`, `transcribe`, `summarize`, ...).
for _name, _command in installed_commands().items():
    app.command(_name)(_command)


if __name__ == "__main__":
    sys.exit(app())
