"""Set-up output of the llama-server build: one line per phase, the compiler's output in a log file, its
tail on failure; and the configure flags that keep the build to what the summarizer runs. Real processes,
no compiler: each phase is a small shell command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe_summarizer import build


def test_a_phase_prints_one_line_and_keeps_the_output_in_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "build.log"
    noisy = 'for i in $(seq 1 500); do echo "[$i/500] Building CXX object file$i.o"; done'

    elapsed = build._run_phase("compiling", ["sh", "-c", noisy], log, show_steps=True)

    err = capsys.readouterr().err
    # Without a terminal: exactly one line for the phase, none of the 500 compiler lines
    assert err.count("\n") == 1
    assert err.startswith("[vidpipe-summarizer-build] compiling ... done in ") and elapsed >= 0
    assert sum(line.startswith("[") for line in log.read_text().splitlines()) == 500


def test_a_failing_phase_shows_the_log_tail_and_where_the_log_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "build.log"
    failing = "for i in $(seq 1 100); do echo line$i; done; echo 'error: no such compiler' >&2; exit 3"

    with pytest.raises(subprocess.CalledProcessError) as caught:
        build._run_phase("configuring llama.cpp", ["sh", "-c", failing], log)

    err = capsys.readouterr().err
    assert caught.value.returncode == 3
    assert "configuring llama.cpp ... failed after" in err and "(exit 3)" in err
    assert "error: no such compiler" in err
    assert "line100" in err and "line50" not in err  # the tail, not the whole log
    assert f"full log: {log}" in err


def test_main_reports_a_failed_build_in_one_line_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(**_: object) -> Path:
        raise subprocess.CalledProcessError(2, ["cmake"])

    monkeypatch.setattr(build, "build_llama_server", fail)
    assert build.main(["server"]) == 1
    assert build.main(["bogus"]) == 2


def test_configure_builds_only_what_the_server_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    tools = {"ninja": "/usr/bin/ninja", "ccache": None}
    monkeypatch.setattr(build.shutil, "which", lambda name: tools.get(name))

    command = build.cmake_configure_command(Path("/src"), Path("/build"))

    assert command[:5] == ["cmake", "-S", "/src", "-B", "/build"]
    for flag in (
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",  # no network during the build
        "-DLLAMA_CURL=OFF",
        "-DGGML_NATIVE=ON",
    ):
        assert flag in command
    assert command[-2:] == ["-G", "Ninja"]
    assert not any("ccache" in part for part in command)

    tools.update(ninja=None, ccache="/usr/bin/ccache")
    command = build.cmake_configure_command(Path("/src"), Path("/build"))
    assert "Ninja" not in command
    assert "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache" in command


def test_build_module_runs_without_the_project_installed() -> None:
    # scripts/setup.sh runs it with the venv's Python before anything else is importable; the standard
    # library must be enough (python -I ignores PYTHONPATH and user site-packages).
    source = Path(build.__file__).read_text()
    result = subprocess.run(
        [sys.executable, "-I", "-c", source.replace('if __name__ == "__main__":', "if False:")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
