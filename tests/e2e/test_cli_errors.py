"""The command line from a newcomer's side: every expected failure is one actionable line and a non-zero
exit, help text is complete, and the running stack is found from any directory (no models, no stack)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from vidpipe.localinfra import free_port
from vidpipe.statedir import RunningStack, StateDir

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "jfk-demo.mp4"


def vidpipe(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VIDPIPE_", "AUTH_"))}
    return subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", *args],
        env={**base, "COLUMNS": "80", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_failure(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_an_unreachable_gateway_is_one_line_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = vidpipe("process", str(SAMPLE), env={"VIDPIPE_GATEWAY_URL": url, "VIDPIPE_TOKEN": "x"})
    assert_one_line_failure(done, "cannot reach the gateway", url)


def test_debug_shows_the_traceback_of_the_same_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = vidpipe("--debug", "process", str(SAMPLE), env={"VIDPIPE_GATEWAY_URL": url, "VIDPIPE_TOKEN": "x"})
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_no_stack_and_a_stale_stack_each_say_what_to_do(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    env = {"VIDPIPE_STATE_DIR": str(state.root)}
    assert_one_line_failure(vidpipe("process", str(SAMPLE), env=env), "no running stack", "vidpipe dev")
    # A state file left by a stack that was killed: its pid is gone
    dead_pid = _dead_pid()
    state.root.mkdir(parents=True)
    state.write_running(
        RunningStack(pid=dead_pid, gateway_url="http://127.0.0.1:9", postgres_url="", s3_url="", sqs_url="")
    )
    state.save_config(msgspec.convert({"jwt_secret": "s" * 32}, type=type(state.load_config())))
    assert_one_line_failure(vidpipe("process", str(SAMPLE), env=env, cwd=tmp_path), "is gone", "vidpipe dev")


def test_the_running_stack_and_its_secret_are_found_from_any_directory(tmp_path: Path) -> None:
    # Given a state directory whose stack runs (this test process stands in for it)
    state = StateDir(tmp_path / "state")
    state.root.mkdir(parents=True)
    secret = state.load_config().jwt_secret
    port = free_port()
    state.write_running(
        RunningStack(
            pid=os.getpid(),
            gateway_url=f"http://127.0.0.1:{port}",
            postgres_url="",
            s3_url="",
            sqs_url="",
            started_at=time.time(),
        )
    )
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    env = {"VIDPIPE_STATE_DIR": str(state.root)}
    # When a token is minted from an unrelated directory, it is signed with the stack's secret
    minted = vidpipe("token", "alice", env=env, cwd=elsewhere)
    assert minted.returncode == 0, minted.stderr
    import jwt

    claims = jwt.decode(minted.stdout.strip(), secret, algorithms=["HS256"], audience="vidpipe")
    assert claims["sub"] == "alice"
    # And `process` goes to that stack's gateway (here nothing listens: the message names its URL)
    done = vidpipe("process", str(SAMPLE), env=env, cwd=elsewhere)
    assert_one_line_failure(done, f"127.0.0.1:{port}")


def test_a_second_stack_on_the_same_state_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    # Given a state directory held by a live stack (this test process takes its lock)
    state = StateDir(tmp_path / "state")
    fd = state.lock()
    assert fd is not None
    try:
        # When another `vidpipe dev` starts on it: it refuses at once, touching nothing
        done = vidpipe("dev", env={"VIDPIPE_STATE_DIR": str(state.root)})
        assert_one_line_failure(done, "already", str(state.root))
        assert not (state.root / "postgres").exists()
    finally:
        os.close(fd)


@pytest.mark.parametrize("command", ["process", "demo", "dev", "token", "sweep", "reset", "worker", "migrate"])
def test_help_is_complete_and_shows_no_bool_placeholders(command: str) -> None:
    done = vidpipe(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    # Every option row carries a description: a row is `│ --name  [<type>]  text │`
    for row in re.findall(r"│ (--[a-z-]+[^│]*)│", done.stdout):
        name, *rest = row.split()
        if name == "--help":
            continue
        words = [w for w in rest if not w.startswith("<") and not w.startswith("[")]
        assert words, f"{command} {name} has no description: {row!r}"


def test_output_without_a_terminal_never_wraps_long_ids(tmp_path: Path) -> None:
    url = "http://127.0.0.1:" + str(free_port()) + "/" + "x" * 150
    done = vidpipe("process", str(SAMPLE), env={"VIDPIPE_GATEWAY_URL": url, "VIDPIPE_TOKEN": "x", "COLUMNS": "40"})
    assert_one_line_failure(done, "x" * 150)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
