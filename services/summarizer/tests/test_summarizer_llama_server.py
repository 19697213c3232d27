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

from vidpipe_summarizer.schema import (
    SUMMARY_MAX_CHARS,
    SUMMARY_MIN_CHARS,
    LlmSummary,
    Summary,
    split_sentences,
    summary_decoder,
    summary_encoder,
)
from vidpipe_summarizer.transcript import Transcript, decode_transcript, vocabulary, words_of

pytestmark = pytest.mark.models

AmiJson = Callable[[int], bytes]


def assert_valid_summary(summary: Summary, transcript: Transcript) -> None:
    # The Struct's bounds hold on the encoded result (what the handler stores / the CLI prints)
    decoded = summary_decoder.decode(summary_encoder.encode(summary))
    assert SUMMARY_MIN_CHARS <= len(decoded.summary) <= SUMMARY_MAX_CHARS
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


def test_transcript_that_fits_gets_summary_and_chapters_from_one_call(
    llama_server_binary: Path, ami_json: AmiJson
) -> None:
    from vidpipe_summarizer.build import SMOLLM2_135M
    from vidpipe_summarizer.engine import load_engine
    from vidpipe_summarizer.settings import SummarizerSettings

    # Given five AMI minutes (chapters wanted) and a context that holds them whole
    transcript = decode_transcript(ami_json(5))
    settings = SummarizerSettings(
        local_model=SMOLLM2_135M.name, llama_server_binary=llama_server_binary, local_context_tokens=4096
    )
    with load_engine(settings) as engine:
        summary = engine.summarize(transcript)
        completions = engine.completions

    # Then the grammar held the answer to one title per part, from a single valid completion
    assert summary.chunk_count == 1
    assert len(completions) == 1
    assert_valid_summary(summary, transcript)
    assert len(summary.chapters) == 2
    assert summary.chapters[0].start == transcript.segments[0].start
    # (300 s in two parts: the second starts at the first turn from 150 s on)
    assert 150.0 <= summary.chapters[1].start < 200.0
    assert all(3 <= len(chapter.title) <= 80 for chapter in summary.chapters)


def test_server_is_restarted_if_it_dies_between_jobs(smollm2_engine: Any) -> None:
    # The worker may hold one server per thread count (the thread policy): kill every one of them.
    servers = [server for server in smollm2_engine.backend.servers if server.is_running()]
    assert servers
    old_pids = {server.pid for server in servers}
    for server in servers:
        os.kill(server.pid, signal.SIGKILL)
        server._process.wait(timeout=10)

    # Any call (here the cheapest, a token count) brings a fresh server up first
    assert smollm2_engine.backend.count_tokens("remote control") >= 2

    running = [server for server in smollm2_engine.backend.servers if server.is_running()]
    assert running and all(server.pid not in old_pids for server in running)


def test_progress_moves_while_the_server_reads_and_writes(smollm2_engine: Any, ami_json: AmiJson) -> None:
    progress: list[tuple[float, str]] = []

    smollm2_engine.summarize(decode_transcript(ami_json(1)), progress=lambda f, d: progress.append((f, d)))

    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions)
    # Prompt progress (llama-server's return_progress) and generated tokens both moved the bar
    assert any(0.0 < f <= 0.5 for f in fractions), fractions
    assert any(0.5 < f < 1.0 for f in fractions), fractions
    assert fractions[-1] == 1.0


def test_each_thread_count_gets_its_own_server_sharing_the_model(llama_server_binary: Path) -> None:
    from vidpipe_summarizer.build import SMOLLM2_135M, assemble_model
    from vidpipe_summarizer.llama_server import LlamaServerProcess, LocalLlamaBackend, ThreadPolicy

    class Scripted(ThreadPolicy):
        def __init__(self, counts: list[int]) -> None:
            super().__init__("auto")
            self.counts = counts

        def threads(self, exclude: Any = ()) -> int:
            return self.counts.pop(0)

    server = LlamaServerProcess(
        binary=llama_server_binary,
        model_path=assemble_model(SMOLLM2_135M),
        alias="smol",
        context_tokens=1024,
        threads=1,
        startup_timeout_s=60,
    )
    backend = LocalLlamaBackend(server, request_timeout_s=600, http_retries=0, thread_policy=Scripted([1, 2, 1]))
    # A tiny answer: two threads on a busy machine are slow (that is the point of the policy), the test is not
    schema = {"type": "object", "properties": {"word": {"type": "string", "maxLength": 8}}, "required": ["word"]}
    messages = [{"role": "user", "content": "One word for a remote control."}]
    try:
        for _ in range(3):
            completion = backend.complete_json(
                messages, schema_name="s", schema=schema, max_tokens=32, temperature=0.0, seed=1
            )
            assert completion.content
        # One server per count, both alive and reused (the third call went back to the first server)
        assert sorted(s.threads for s in backend.servers) == [1, 2]
        processes = [s._process for s in backend.servers]
        assert all(p is not None and p.poll() is None for p in processes)
        assert len({s.pid for s in backend.servers}) == 2
    finally:
        backend.close()
    assert all(p is not None and p.poll() is not None for p in processes)


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


def test_cli_prints_summary_json_and_reuses_the_saved_system_prompt(
    ami_json_path: Path, llama_server_binary: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "prompt-state"
    env = {
        **os.environ,
        "SUMMARIZER_LOCAL_MODEL": "SmolLM2-135M-Instruct-Q4_1",
        "SUMMARIZER_LLAMA_SERVER_BINARY": str(llama_server_binary),
        "SUMMARIZER_LOCAL_CONTEXT_TOKENS": "2048",
        "SUMMARIZER_LOCAL_PROMPT_STATE_DIR": str(state_dir),
        # One generation thread whatever the load: `auto` picks per run from the free cores, and another
        # thread count may round a near-tie differently, which is not what this test is about.
        "SUMMARIZER_LOCAL_THREADS": "1",
    }
    args = (str(ami_json_path), "--speaker-name", "SPEAKER_00=Alice")

    # The first run reads the system prompt and saves its state
    first = run_cli(*args, "--quiet", env=env)
    assert first.returncode == 0, first.stderr
    summary = msgspec.json.decode(first.stdout, type=Summary)
    assert summary.model == "SmolLM2-135M-Instruct-Q4_1"
    assert first.stderr == ""
    (state,) = state_dir.glob("*.bin")

    # The second restores it instead, and (greedy decoding) answers exactly as the first did
    second = run_cli(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "prompt restored" in second.stderr and "warmed" not in second.stderr
    assert second.stdout == first.stdout

    # A torn state file costs only speed: the prompt is read again, the answer is the same, and the state
    # is saved afresh
    state.write_bytes(b"not a kv cache")
    third = run_cli(*args, env=env)
    assert third.returncode == 0, third.stderr
    assert "prompt restore failed" in third.stderr and "warmed" in third.stderr
    assert third.stdout == first.stdout
    assert state.stat().st_size > 1000


def test_cli_bad_input_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"language": "en", "segments": [], "words": []}')

    result = run_cli(str(empty), env=dict(os.environ))

    assert result.returncode != 0
    assert "no spoken text" in result.stderr
    assert result.stdout == ""
