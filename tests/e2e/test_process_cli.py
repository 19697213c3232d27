"""The README's main job: `vidpipe process FILE` against the embedded stack, all three stages for real.

The stack runs the smallest shipped models (tiny.en, SmolLM2) so the suite stays fast; `make demo` runs the
same path with the default models.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidpipe.devstack import DevStack
from vidpipe.settings import AuthSettings
from vidpipe.tokens import mint_local_token

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "jfk-demo.mp4"

pytestmark = [pytest.mark.integration, pytest.mark.models]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRANSCRIBER_MODEL", "tiny.en")
        env.setenv("SUMMARIZER_LOCAL_MODEL", "SmolLM2-135M-Instruct-Q4_1")
        with DevStack(state_dir=tmp_path_factory.mktemp("process-stack"), echo=False, throwaway=True) as dev:
            yield dev


def process(stack: DevStack, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    token = mint_local_token(AuthSettings(jwt_secret=stack.env["AUTH_JWT_SECRET"]), "cli-user")
    env = {**os.environ, "VIDPIPE_GATEWAY_URL": stack.gateway_url, "VIDPIPE_TOKEN": token, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "process", str(path), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_sample_goes_through_every_stage_and_the_results_are_printed(stack: DevStack) -> None:
    done = process(stack, SAMPLE)
    assert done.returncode == 0, done.stderr[-3000:]
    out = " ".join(done.stdout.split())
    assert "Moderation: allowed" in out
    assert "ask not what your country can do for you" in out.lower().replace(",", "")
    assert "SPEAKER_00:" in out and "Speakers: SPEAKER_00" in out
    assert "Summary:" in out and "Keywords:" in out


def test_a_broken_upload_exits_non_zero_with_the_reason(stack: DevStack, tmp_path: Path) -> None:
    broken = tmp_path / "cut.mp4"
    broken.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 3])
    done = process(stack, broken)
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert "FAILED" in err and "truncated_media" in err


def test_a_non_video_is_refused_before_upload(stack: DevStack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("minutes of the meeting\n")
    done = process(stack, notes)
    assert done.returncode == 1
    assert "unsupported_content_type" in done.stderr
