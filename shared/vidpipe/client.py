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


class ProcessingFailedError(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(f"{status}: {message} ({code})")
        self.status, self.code, self.message = status, code, message


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    try:
        error = response.json()
        raise ProcessingFailedError("REQUEST_FAILED", error.get("code", "error"), error.get("message", response.text))
    except ValueError:
        raise ProcessingFailedError("REQUEST_FAILED", f"http_{response.status_code}", response.text) from None


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
        client.post("/api/video/upload-url", json={"filename": path.name, "content_type": content_type, "size": size})
    )
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0)) as storage:
        if target["method"] == "PUT":
            response = storage.put(
                target["url"],
                content=_file_chunks(path),
                headers={**target["headers"], "Content-Length": str(size)},
            )
            response.raise_for_status()
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
                response.raise_for_status()
                parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
            _check(
                client.post(
                    "/api/video/complete-upload",
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
            status = _check(client.get(f"/api/video/status/{task_id}"))
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
        started = _check(client.post("/api/video/start-processing", json={"object_key": key, **options}))
        console.print(f"task {started['task_id']} for media {started['media_id']}")
        status = follow(client, started["task_id"], console)
        media = _check(client.get(f"/api/media/{started['media_id']}"))
    if status["status"] != "COMPLETED":
        error = status.get("error") or {}
        raise ProcessingFailedError(
            status["status"], error.get("code", "unknown"), error.get("message", "no reason given")
        )
    return media
