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
import typer.core
from rich.console import Console

from vidpipe.dlq import dlq_app
from vidpipe.plugins import installed_commands
from vidpipe.settings import STAGES, Stage, load_settings

_flag_display = typer.core.TyperOption.display_type_rich


def _no_type_on_flags(self: typer.core.TyperOption, ctx: Any) -> str | None:
    # Typer prints `<bool>` after every on/off flag (`--json <bool>`), as if it took a value: show nothing.
    return None if self.is_flag else _flag_display(self, ctx)


typer.core.TyperOption.display_type_rich = _no_type_on_flags  # type: ignore[method-assign]


class _Options:
    debug = False


class _App(typer.Typer):
    """The command line; an expected failure (gateway down, stack not running, HTTP error) is one line on
    stderr and exit code 1, its traceback only with --debug."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            line = _expected_failure(error)
            if line is None or _Options.debug:
                raise
            err.print(f"[red]error:[/] {line}", highlight=False)
            sys.exit(1)


app = _App(
    help="vidpipe: moderated, speaker-labelled, summarised transcripts of videos.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# soft_wrap: never break a line at the terminal width, so ids and URLs stay whole when piped or logged.
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def _global(
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of any failure")] = False,
) -> None:
    _Options.debug = debug


def _expected_failure(error: BaseException) -> str | None:
    """One actionable line for failures a user can fix; None for bugs (those keep their traceback)."""
    import httpx
    import psycopg

    from vidpipe.client import CliError
    from vidpipe.devstack import StackAlreadyRunningError

    if isinstance(error, CliError | StackAlreadyRunningError):
        return str(error)
    if isinstance(error, httpx.TransportError):
        url = error.request.url if error._request is not None else "the server"
        return f"cannot reach {url}: {error or type(error).__name__}; check that it runs and the URL is right"
    if isinstance(error, psycopg.OperationalError):
        return f"cannot use the database: {str(error).strip().splitlines()[0]}; check DB_URL and that Postgres runs"
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, BotoCoreError | ClientError):
            return f"S3/SQS request failed: {error}; check AWS_ENDPOINT_URL and credentials"
    except ImportError:  # pragma: no cover - botocore ships with the platform
        pass
    if isinstance(error, OSError | RuntimeError):
        return str(error) or type(error).__name__
    return None


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
    email: Annotated[str | None, typer.Option(help="e-mail claim to put in the token")] = None,
) -> None:
    """Mint a bearer token for a local user (also valid after the stack restarts).

    Signed with AUTH_JWT_SECRET, else with the embedded stack's own secret from its state directory.
    """
    print(_local_token(subject, email))


def _local_token(subject: str, email: str | None = None) -> str:
    from vidpipe.client import CliError
    from vidpipe.settings import AuthSettings
    from vidpipe.statedir import StateDir
    from vidpipe.tokens import mint_local_token

    auth = AuthSettings()
    if auth.jwt_secret is None and (secret := StateDir.default().jwt_secret()):
        auth = AuthSettings(jwt_secret=secret)
    if auth.jwt_secret is None:
        raise CliError(f"no local stack in {StateDir.default().root}: start `vidpipe dev` once, or set AUTH_JWT_SECRET")
    return mint_local_token(auth, subject, email=email)


@app.command()
def dev(
    stages: Annotated[str, typer.Option(help="comma-separated stages to run workers for")] = ",".join(STAGES),
    port: Annotated[int, typer.Option(help="gateway port (0: the one used last time, else a free one)")] = 0,
    fresh: Annotated[bool, typer.Option("--fresh", help="delete the state directory first (a throwaway run)")] = False,
) -> None:
    """Start the embedded stack (Postgres, S3, SQS, gateway, workers, sweeper) until Ctrl-C.

    Data (database, objects, logs, the local token secret) lives in the state directory, VIDPIPE_STATE_DIR or
    ~/.local/share/vidpipe (/var/lib/vidpipe as root), and survives restarts; `vidpipe reset` deletes it.
    A child that dies is restarted; all of them stop with this command, even if it is killed.
    """
    from vidpipe.devstack import DevStack

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with DevStack(stages=_stages(stages), gateway_port=port, fresh=fresh) as stack:
        while not stop.wait(0.5):
            stack.supervise()
        err.print("stopping…")


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete the embedded stack's state directory: every video, transcript, edit and summary in it."""
    from vidpipe.client import CliError
    from vidpipe.statedir import StateDir

    state = StateDir.default()
    running = state.read_running()
    if running is not None and running.alive:
        raise CliError(f"a stack (pid {running.pid}) is running from {state.root}: stop it first")
    if not state.root.exists():
        err.print(f"nothing to delete: {state.root} does not exist")
        return
    if not yes:
        typer.confirm(f"delete {state.root} and everything in it?", abort=True)
    state.remove()
    err.print(f"deleted {state.root}")


@app.command()
def sweep(
    every: Annotated[float | None, typer.Option(help="seconds between passes (default RECONCILER_EVERY_S)")] = None,
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    stuck_after: Annotated[
        float | None,
        typer.Option(
            help="seconds without any sign of life before a task's message is re-sent (default N × visibility)"
        ),
    ] = None,
) -> None:
    """Re-send the current stage's message of unfinished tasks whose message was lost (the reconciler).

    Runs in `vidpipe dev`; in production run one (or more: passes take a lock) next to the workers.
    """
    from vidpipe.logging import configure_logging
    from vidpipe.reconciler import reconcile_once, sweep_forever

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if once:
        report = asyncio.run(reconcile_once(settings, idle_s=stuck_after))
        err.print(report.summary())
        return
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await sweep_forever(settings, stop, every_s=every or settings.reconciler.every_s, idle_s=stuck_after)

    asyncio.run(run())


def _stages(text: str) -> tuple[Stage, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise typer.BadParameter(f"unknown stage(s): {', '.join(unknown)}")
    return chosen  # type: ignore[return-value]


@app.command()
def process(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the video to process")],
    language: Annotated[str | None, typer.Option(help="spoken language, e.g. en (detected if unset)")] = None,
    min_speakers: Annotated[int | None, typer.Option(help="at least this many speakers (diarization hint)")] = None,
    max_speakers: Annotated[int | None, typer.Option(help="at most this many speakers (diarization hint)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Upload FILE through the gateway, follow its status, print transcript, speakers, summary, keywords.

    The gateway is VIDPIPE_GATEWAY_URL (token: VIDPIPE_TOKEN), else the running `vidpipe dev` stack, found
    through its state directory from any working directory.
    """
    base_url = os.environ.get("VIDPIPE_GATEWAY_URL")
    token_value = os.environ.get("VIDPIPE_TOKEN")
    if base_url is None:
        base_url = _running_gateway()
    token_value = token_value or _local_token("local-user")
    _process(base_url, token_value, file, language, min_speakers, max_speakers, as_json)


def _running_gateway() -> str:
    from vidpipe.client import CliError
    from vidpipe.statedir import StateDir

    state = StateDir.default()
    running = state.read_running()
    if running is None:
        raise CliError(f"no running stack in {state.root}: start `vidpipe dev`, or set VIDPIPE_GATEWAY_URL")
    if not running.alive:
        raise CliError(
            f"the stack that served {running.gateway_url} (pid {running.pid}) is gone: start `vidpipe dev` again"
        )
    return running.gateway_url


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
        err.print(f"[red bold]{failure.status}[/]: {failure.message} [dim]({failure.code})[/]", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(media, indent=2, default=str))
    else:
        print_result(media, Console(soft_wrap=True))


@app.command()
def demo(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="video to process (default: the bundled sample)")
    ] = DEMO_SAMPLE,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Process FILE (a bundled sample by default) on the embedded stack and print the result.

    Uses the running `vidpipe dev` if there is one; otherwise starts the stack on its state directory, runs
    the file, and stops it again: the result stays there for the web UI of the next `vidpipe dev`.
    """
    from vidpipe.devstack import DevStack, read_state
    from vidpipe.settings import AuthSettings
    from vidpipe.tokens import mint_local_token

    if (running := read_state()) is not None:
        _process(running.gateway_url, _local_token("local-user"), file, None, None, None, as_json)
        err.print(f"open {running.gateway_url} (the link `vidpipe dev` printed) to see it in the web UI")
        return
    with DevStack(echo=False) as stack:
        err.print(f"embedded stack started (state in {stack.state.root})")
        token_value = mint_local_token(AuthSettings(jwt_secret=stack.env["AUTH_JWT_SECRET"]), "local-user")
        _process(stack.gateway_url, token_value, file, None, None, None, as_json)
    err.print("to see it in the web UI, run `vidpipe dev` and open the link it prints (the result is kept)")


app.add_typer(dlq_app, name="dlq")

# Commands the installed services contribute (`gateway`, `moderate`, `transcribe`, `summarize`, ...).
for _name, _command in installed_commands().items():
    app.command(_name)(_command)


if __name__ == "__main__":
    sys.exit(app())
