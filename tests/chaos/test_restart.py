"""`vidpipe dev` itself killed with SIGKILL and started again, then stopped and started again: the work in
flight finishes, nothing the user made is lost, and no process outlives a stack (smallest shipped models).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vidpipe.statedir import StateDir
from vidpipe.supervisor import pid_alive

from .campaign import SAMPLE, STACK_ENV, Campaign, RunningTarget

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.timeout(1800)]


class DevProcess:
    """`vidpipe dev` as a user runs it, on its own state directory."""

    def __init__(self, state_dir: Path, log: Path) -> None:
        self.state = StateDir(state_dir)
        self.env = {**os.environ, **STACK_ENV, "VIDPIPE_STATE_DIR": str(state_dir)}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 300) -> RunningTarget:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vidpipe.cli", "dev"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = self.state.read_running()
            if running is not None and running.pid == self.process.pid:
                return RunningTarget(self.state.root)
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"vidpipe dev did not start: {self.log.read_text()[-3000:]}")

    def children(self) -> list[int]:
        running = self.state.read_running()
        return list(running.children.values()) if running else []

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=180)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    process = DevProcess(tmp_path / "state", tmp_path / "dev.log")
    try:
        yield process
    finally:
        process.stop(signal.SIGKILL)
        time.sleep(1)
        process.state.remove()


def gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if pid_alive(p)]


def test_killed_restarted_and_restarted_again_the_users_work_survives(dev: DevProcess) -> None:
    # Given three videos in flight on a running `vidpipe dev`
    target = dev.start()
    campaign = Campaign(target, subject="restart-user")
    tasks = campaign.submit(3)
    assert campaign.wait_for_stage(tasks, "transcribe")

    # When `vidpipe dev` is killed with SIGKILL: every child goes with it
    children = dev.children()
    assert len(children) >= 7  # postgres, s3, sqs, three workers, sweeper, gateway
    dev.stop(signal.SIGKILL)
    assert gone_within(children, 15) == [], "children outlived a SIGKILLed vidpipe dev"

    # And it is started again: the stale state is cleaned, the unfinished work resumes and completes
    target = dev.start()
    campaign = Campaign(target, subject="restart-user")
    statuses = campaign.wait_terminal(tasks, timeout_s=900)
    assert [s["status"] for s in statuses.values()] == ["COMPLETED"] * 3, statuses
    assert "ended without cleaning up" in dev.log.read_text()

    # The user corrects a segment and names a speaker
    task_id, media_id = tasks[0]
    with campaign.client() as client:
        edited = client.patch(f"/api/media/{media_id}/segments/0", json={"text": "Edited after a crash."})
        assert edited.status_code == 200, edited.text
        named = client.patch(f"/api/media/{media_id}/speakers", json={"names": {"SPEAKER_00": "JFK"}})
        assert named.status_code in (200, 204), named.text

    # When the stack is stopped cleanly and started again
    children = dev.children()
    dev.stop(signal.SIGTERM)
    assert gone_within(children, 15) == []
    assert dev.state.read_running() is None
    target = dev.start()
    campaign = Campaign(target, subject="restart-user")

    # Then video, transcript, edits and summary are all there, and the video is still served
    with campaign.client() as client:
        media = client.get(f"/api/media/{media_id}").json()
        history = client.get(f"/api/media/{media_id}/edits").json()
    segments = media["transcript"]["segments"]
    assert segments[0]["text"] == "Edited after a crash."
    spoken = " ".join(w["word"] for s in segments for w in s["words"]).lower()
    assert "country" in spoken  # the machine's words are kept beside the edited text
    assert {s["label"]: s["name"] for s in media["transcript"]["speakers"]}["SPEAKER_00"] == "JFK"
    assert media["summary"]["summary"]
    assert len(history) >= 2
    video = httpx.get(media["video_url"], headers={"Range": "bytes=0-1023"}, timeout=30)
    assert video.status_code == 206 and video.content == SAMPLE.read_bytes()[:1024]
    for other_task, _ in tasks[1:]:
        assert campaign.statuses([(other_task, media_id)])[other_task]["status"] == "COMPLETED"
    del task_id
