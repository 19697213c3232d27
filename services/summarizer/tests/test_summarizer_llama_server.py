"""The local engine end to end: the real llama-server binary serving SmolLM2-135M (the smallest shipped model).

SmolLM2 writes poor summaries, so nothing here judges quality: these tests check that constrained decoding
under the bounded schema yields valid results through every path (single pass, chunked, chapters), that
the grammar holds the summary to 2-4 sentences (SmolLM2 left to itself writes one or runs on), that there
are 5-10 keywords grounded in the transcript, and that the engine owns its server process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vidpipe_summarizer.schema import LlmSummary, Summary, split_sentences, summary_decoder, summary_encoder
from vidpipe_summarizer.transcript import Transcript, decode_transcript, vocabulary, words_of

pytestmark = pytest.mark.models

AmiJson = Callable[[int], bytes]


def assert_valid_summary(summary: Summary, transcript: Transcript) -> None:
    # The Struct's bounds hold on the encoded result (what the handler stores / the CLI prints)
    decoded = summary_decoder.decode(summary_encoder.encode(summary))
    assert 40 <= len(decoded.summary) <= 570
    assert 2 <= len(split_sentences(decoded.summary)) <= 4, decoded.summary
    assert 3 <= len(decoded.title) <= 80
    assert 5 <= len(decoded.keywords) <= 10, decoded.keywords
    # Every keyword's words occur in the transcript, whichever source produced it
    vocab = vocabulary(transcript)
    for keyword in decoded.keywords:
        assert words_of(keyword), keyword
        assert all(word in vocab for word in words_of(keyword)), keyword


def test_ami_transcript_gives_a_valid_summary(smollm2_engine: Any, ami_json: AmiJson) -> None:
    transcript = decode_transcript(ami_json(1))

    summary = smollm2_engine.summarize(transcript)

    assert_valid_summary(summary, transcript)
    assert summary.chunk_count == 1
    assert summary.chapters == []  # one minute is below the chapter threshold
    assert summary.model == "SmolLM2-135M-Instruct-Q4_1"
    assert summary.language == "en"
    assert summary.keywords, "the model or, failing that, yake must yield keywords for this transcript"
    # The server reports its own timings, so the benchmark can rely on them
    assert smollm2_engine.completions[0].timings["predicted_n"] > 0


def test_transcript_longer_than_the_context_is_chunked_into_chapters(smollm2_engine: Any, ami_json: AmiJson) -> None:
    # Given five AMI minutes: too long for the 2048-token context in one pass, and long enough for chapters
    # (the budget-only split of a short transcript is covered against the HTTP test double)
    transcript = decode_transcript(ami_json(5))
    text_tokens = smollm2_engine.backend.count_tokens("\n".join(s.text for s in transcript.segments))
    assert text_tokens + smollm2_engine._max_tokens[LlmSummary] > 2048
    progress: list[str] = []

    summary = smollm2_engine.summarize(transcript, progress=lambda _f, detail: progress.append(detail))

    # Then it was map-reduced into one valid result whose chapters start where the chunks start
    assert summary.chunk_count >= 2
    assert "combining the parts" in progress
    assert_valid_summary(summary, transcript)
    assert len(summary.chapters) == summary.chunk_count
    starts = [chapter.start for chapter in summary.chapters]
    assert starts[0] == transcript.segments[0].start
    assert starts == sorted(set(starts))
    assert set(starts) <= {segment.start for segment in transcript.segments}
    assert all(3 <= len(chapter.title) <= 80 for chapter in summary.chapters)
    # And no request overflowed the context
    for completion in smollm2_engine.completions:
        assert completion.prompt_tokens + completion.completion_tokens <= 2048


def test_server_is_restarted_if_it_dies_between_jobs(smollm2_engine: Any) -> None:
    server = smollm2_engine.backend.server
    old_pid = server.pid
    os.kill(old_pid, signal.SIGKILL)
    server._process.wait(timeout=10)

    # Any call (here the cheapest, a token count) brings a fresh server up first
    assert smollm2_engine.backend.count_tokens("remote control") >= 2

    assert server.pid != old_pid
    assert server.is_running()


def test_close_stops_the_server(llama_server_binary: Path) -> None:
    from vidpipe_summarizer.build import SMOLLM2_135M
    from vidpipe_summarizer.engine import load_engine
    from vidpipe_summarizer.settings import SummarizerSettings

    settings = SummarizerSettings(
        local_model=SMOLLM2_135M.name, llama_server_binary=llama_server_binary, local_context_tokens=1024
    )
    engine = load_engine(settings)
    process = engine.backend.server._process
    assert process.poll() is None

    engine.close()

    assert process.poll() is not None


def test_missing_binary_is_a_clear_setup_error(tmp_path: Path) -> None:
    from vidpipe_summarizer.build import SMOLLM2_135M
    from vidpipe_summarizer.engine import load_engine
    from vidpipe_summarizer.llama_server import LlamaServerError
    from vidpipe_summarizer.settings import SummarizerSettings

    settings = SummarizerSettings(local_model=SMOLLM2_135M.name, llama_server_binary=tmp_path / "nope")
    with pytest.raises(LlamaServerError, match=r"vidpipe_summarizer\.build"):
        load_engine(settings)


CLI = (
    "import typer; from vidpipe_summarizer.cli import summarize_command; "
    "app = typer.Typer(); app.command()(summarize_command); app()"
)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=240, env=env, check=False
    )


def test_cli_prints_summary_json(ami_json_path: Path, llama_server_binary: Path) -> None:
    env = {
        **os.environ,
        "SUMMARIZER_LOCAL_MODEL": "SmolLM2-135M-Instruct-Q4_1",
        "SUMMARIZER_LLAMA_SERVER_BINARY": str(llama_server_binary),
        "SUMMARIZER_LOCAL_CONTEXT_TOKENS": "2048",
    }

    result = run_cli(str(ami_json_path), "--speaker-name", "SPEAKER_00=Alice", "--quiet", env=env)

    assert result.returncode == 0, result.stderr
    summary = msgspec.json.decode(result.stdout, type=Summary)
    assert summary.model == "SmolLM2-135M-Instruct-Q4_1"
    assert result.stderr == ""


def test_cli_bad_input_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"language": "en", "segments": [], "words": []}')

    result = run_cli(str(empty), env=dict(os.environ))

    assert result.returncode != 0
    assert "no spoken text" in result.stderr
    assert result.stdout == ""
