"""The thread policy of the local engine: how many llama.cpp threads a request gets.

Pure logic (the CPU reading is replaced); the servers it leads to are exercised against the real binary in
test_summarizer_llama_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe_summarizer import llama_server
from vidpipe_summarizer.llama_server import LlamaServerProcess, ThreadPolicy, busy_cores


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A 2-core machine whose other load is whatever the test puts in the returned list (one reading each)."""
    readings: list[float] = []
    monkeypatch.setattr(llama_server, "cpu_cores", lambda: 2)
    monkeypatch.setattr(llama_server, "busy_cores", lambda _sample_s, _exclude: readings.pop(0))
    return readings


@pytest.mark.parametrize(
    ("busy", "threads"),
    [(0.0, 2), (0.3, 2), (0.5, 1), (1.0, 1), (1.9, 1), (2.0, 1)],
)
def test_auto_uses_the_cores_free_now_rounding_down(two_cores: list[float], busy: float, threads: int) -> None:
    two_cores.append(busy)
    assert ThreadPolicy("auto", reuse_s=0).threads() == threads


def test_a_fixed_count_is_never_measured(two_cores: list[float]) -> None:
    # (no reading queued: measuring would fail)
    assert ThreadPolicy(2).threads() == 2
    assert ThreadPolicy("1").threads() == 1


def test_a_decision_is_reused_briefly_so_one_shot_runs_start_one_server(two_cores: list[float]) -> None:
    two_cores.extend([0.0, 1.5])
    policy = ThreadPolicy("auto", reuse_s=60)
    assert policy.threads() == 2
    assert policy.threads() == 2  # the second reading (busy) is not taken within reuse_s
    assert two_cores == [1.5]


def test_busy_cores_reads_the_machine() -> None:
    # Whatever else runs, the reading is a share of the machine's cores
    assert 0.0 <= busy_cores(0.05) <= llama_server.cpu_cores() + 0.01


def test_speculative_decoding_flags_only_with_a_draft_model(tmp_path: Path) -> None:
    def server(threads: int, draft: Path | None) -> LlamaServerProcess:
        return LlamaServerProcess(
            binary=tmp_path / "s",
            model_path=tmp_path / "m",
            alias="m",
            context_tokens=2048,
            threads=threads,
            startup_timeout_s=1,
            draft_model_path=draft,
            draft_max_tokens=6,
        )

    plain, draft = server(1, None), server(2, tmp_path / "d.gguf")
    assert "--model-draft" not in plain.command()
    command = draft.command()
    assert command[command.index("--spec-type") + 1] == "draft-simple"
    assert command[command.index("--model-draft") + 1] == str(tmp_path / "d.gguf")
    assert command[command.index("--threads-draft") + 1] == "2"
    assert command[command.index("--spec-draft-n-max") + 1] == "6"
