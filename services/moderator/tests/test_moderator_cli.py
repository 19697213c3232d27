"""`moderate_command` mounted on a Typer app, as the lead mounts it under `vidpipe moderate`."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import typer
from typer.testing import CliRunner

from vidpipe_moderator.cli import moderate_command
from vidpipe_moderator.results import ModerationReport

pytestmark = pytest.mark.models  # loads the real NudeNet model (once per session)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    # The command reads MODERATOR_* itself; pin what the assertions depend on.
    monkeypatch.setenv("MODERATOR_SAMPLE_INTERVAL_S", "5")
    monkeypatch.delenv("MODERATOR_POLICY_JSON", raising=False)
    application = typer.Typer()
    application.command()(moderate_command)
    return application


def test_prints_the_report_as_json(app: typer.Typer, clean_video: Path, tmp_path: Path) -> None:
    audio_out = tmp_path / "out.flac"
    result = CliRunner().invoke(app, [str(clean_video), "--audio-out", str(audio_out)])
    assert result.exit_code == 0, result.output
    report = msgspec.json.decode(result.stdout, type=ModerationReport)
    assert report.verdict == "allowed"
    assert report.media.video.codec == "h264"
    assert report.audio is not None and audio_out.stat().st_size == report.audio.size_bytes


def test_policy_from_the_environment_is_applied(
    app: typer.Typer, clean_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATOR_POLICY_JSON", '{"rules": {"FACE_FEMALE": {"reject_at": 0.5}}}')
    result = CliRunner().invoke(app, [str(clean_video)])
    assert result.exit_code == 0  # a rejection is a verdict, not an error
    assert msgspec.json.decode(result.stdout)["verdict"] == "rejected"


def test_bad_input_exits_non_zero_with_the_reason(app: typer.Typer, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    result = CliRunner().invoke(app, [str(fake)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error [not_media]" in result.stderr
