"""`vidpipe process`: what a frontend does, from a terminal — upload, start, follow, print the result."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

TERMINAL = {"COMPLETED", "FAILED", "REJECTED"}
# Answers that mean "the gateway or what it depends on is restarting": worth another try after a pause.
TRANSIENT_STATUS = {502, 503, 504}
RETRY_BUDGET_S = 300.0


class CliError(Exception):
    """A failure the user can act on; the command line prints its message as one line (no traceback)."""


class ProcessingFailedError(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(f"{status}: {message} ({code})")
        self.status, self.code, self.message = status, code, message


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    if response.status_code == 401:
        raise CliError(
            f"the gateway at {response.request.url.host}:{response.request.url.port} refused the token (401): "
            "set VIDPIPE_TOKEN to a token it accepts (`vidpipe token NAME` for a local stack)"
        )
    try:
        error = response.json()
        raise ProcessingFailedError("REQUEST_FAILED", error.get("code", "error"), error.get("message", response.text))
    except ValueError:
        raise ProcessingFailedError("REQUEST_FAILED", f"http_{response.status_code}", response.text[:200]) from None


def request_with_retry(
    client: httpx.Client,
    method: str,
    url: str,
    console: Console | None = None,
    *,
    idempotent: bool = True,
    budget_s: float = RETRY_BUDGET_S,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; while the gateway restarts (connection refused, 502/503/504, and for reads a 500 or a
    timeout) wait with back-off and say "reconnecting" instead of failing. A request that may have reached
    the gateway is only repeated if it is idempotent, so an upload is never started twice."""
    deadline = time.monotonic() + budget_s
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.request(method, url, **kwargs)
            retry = response.status_code in TRANSIENT_STATUS or (idempotent and response.status_code == 500)
            if not retry:
                return response
            why = f"HTTP {response.status_code}"
        except httpx.ConnectError as error:  # never reached the gateway: safe to repeat any request
            why = str(error) or "connection refused"
            if time.monotonic() + delay > deadline:
                raise CliError(
                    f"cannot reach the gateway at {client.base_url} ({why}); is `vidpipe dev` running? "
                    "(or check VIDPIPE_GATEWAY_URL)"
                ) from error
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as error:
            if not idempotent:
                raise CliError(
                    f"the gateway at {client.base_url} stopped answering during {method} {url} ({error}); "
                    "check `vidpipe dev` and try again"
                ) from error
            why = type(error).__name__
        if time.monotonic() + delay > deadline:
            raise CliError(f"the gateway at {client.base_url} kept failing ({why}) for {budget_s:.0f} s; giving up")
        if console is not None:
            console.print(f"[yellow]reconnecting[/] to {client.base_url} ({why}; attempt {attempt})", highlight=False)
        time.sleep(delay)
        delay = min(delay * 2, 8.0)


def _stored(response: httpx.Response) -> None:
    if not response.is_success:
        raise CliError(
            f"the object store refused the upload (HTTP {response.status_code} from {response.request.url.host}:"
            f"{response.request.url.port}): {response.text[:200].strip()}"
        )


def _file_chunks(path: Path, start: int = 0, length: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as source:
        source.seek(start)
        remaining = length if length is not None else path.stat().st_size - start
        while remaining > 0 and (data := source.read(min(chunk, remaining))):
            remaining -= len(data)
            yield data


def upload(client: httpx.Client, path: Path, content_type: str) -> str:
    """Ask for a presigned upload and send the file straight to storage; returns the object key."""
    size = path.stat().st_size
    target = _check(
        request_with_retry(
            client,
            "POST",
            "/api/video/upload-url",
            idempotent=False,
            # The first request: a gateway that is not there at all is reported within seconds; later
            # requests wait longer, since by then the gateway is known to exist and may be restarting.
            budget_s=5.0,
            json={"filename": path.name, "content_type": content_type, "size": size},
        )
    )
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0)) as storage:
        if target["method"] == "PUT":
            response = storage.put(
                target["url"],
                content=_file_chunks(path),
                headers={**target["headers"], "Content-Length": str(size)},
            )
            _stored(response)
        else:
            parts = []
            for part in target["parts"]:
                start = (part["part_number"] - 1) * target["part_size"]
                length = min(target["part_size"], size - start)
                response = storage.put(
                    part["url"],
                    content=_file_chunks(path, start, length),
                    headers={"Content-Length": str(length)},
                )
                _stored(response)
                parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
            _check(
                request_with_retry(
                    client,
                    "POST",
                    "/api/video/complete-upload",
                    idempotent=False,
                    json={
                        "object_key": target["object_key"],
                        "upload_id": target["upload_id"],
                        "parts": parts,
                    },
                )
            )
    return str(target["object_key"])


def follow(client: httpx.Client, task_id: str, console: Console, poll_s: float = 1.0) -> dict[str, Any]:
    """Poll the status with a progress bar until the task ends; returns the final status."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("queued", total=100)
        while True:
            status = _check(request_with_retry(client, "GET", f"/api/video/status/{task_id}", console))
            stage = status["current_stage"] or ""
            detail = next((s.get("detail") for s in status["stages"] if s["stage"] == stage and s.get("detail")), None)
            label = f"{status['status'].lower()} {stage}" + (f" · {detail}" if detail else "")
            progress.update(bar, completed=status["progress_percent"], description=label)
            if status["status"] in TERMINAL:
                return status
            time.sleep(poll_s)


def print_result(media: dict[str, Any], console: Console) -> None:
    transcript = media.get("transcript")
    summary = media.get("summary")
    moderation = media.get("moderation")
    if moderation:
        console.print(
            f"[bold]Moderation:[/] {moderation['verdict']}"
            + (f" — {moderation['reason']}" if moderation.get("reason") else "")
        )
    if transcript:
        names = {s["label"]: s["name"] or s["label"] for s in transcript["speakers"]}
        console.print(f"\n[bold]Transcript[/] ({transcript['language']}, {transcript['engine']} {transcript['model']})")
        for segment in transcript["segments"]:
            who = names.get(segment["speaker"], segment["speaker"] or "?")
            console.print(f"[{_clock(segment['start'])} → {_clock(segment['end'])}] [cyan]{who}[/]: {segment['text']}")
        console.print(f"\n[bold]Speakers:[/] {', '.join(names.values()) or 'none detected'}")
    if summary:
        if summary.get("title"):
            console.print(f"\n[bold]Title:[/] {summary['title']}")
        console.print(f"\n[bold]Summary:[/] {summary['summary']}")
        console.print(f"\n[bold]Keywords:[/] {', '.join(summary['keywords'])}")
        for chapter in summary.get("chapters", []):
            console.print(f"  {_clock(chapter['start_s'])} {chapter['title']}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:05.2f}"


def guess_content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def process_file(base_url: str, token: str, path: Path, options: dict[str, Any], console: Console) -> dict[str, Any]:
    """Run one file through the pipeline; raises ProcessingFailedError with the task's reason when it fails."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        key = upload(client, path, guess_content_type(path))
        started = _check(
            request_with_retry(
                client,
                "POST",
                "/api/video/start-processing",
                console,
                idempotent=False,
                json={"object_key": key, **options},
            )
        )
        console.print(f"task {started['task_id']} for media {started['media_id']}")
        status = follow(client, started["task_id"], console)
        media = _check(request_with_retry(client, "GET", f"/api/media/{started['media_id']}", console))
    if status["status"] != "COMPLETED":
        error = status.get("error") or {}
        raise ProcessingFailedError(
            status["status"], error.get("code", "unknown"), error.get("message", "no reason given")
        )
    return media
