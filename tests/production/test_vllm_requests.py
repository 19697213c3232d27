"""Every request body the production summarizer sends, validated by vLLM's own request model.

The summarizer (SUMMARIZER_ENGINE=openai, as in terraform/) talks to a local HTTP server that does what vLLM's
OpenAI server does with a request before any model runs: parse it as `ChatCompletionRequest` (vllm 0.33.0, the
version of the vllm/vllm-openai image) and turn it into `SamplingParams`. vLLM lives in its own venv
(.venv-production/vllm: it needs transformers 5), so the server hands each body to vllm_validate.py there.
A body vLLM would refuse gets the 400 vLLM would send, which the client reports as a permanent
`llm_request_rejected`; so each flow below passes only if every one of its requests is valid for vLLM. The
tests also check what vLLM makes of each request: the JSON schema becomes the structured-output constraint,
and max_tokens, temperature and seed carry over.

Flows (every shape the engine sends): one pass, map-reduce with chapters, chunks without chapters, an
intermediate reduce round when the notes overflow the context, and a sampled retry after invalid output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from vidpipe_summarizer.engine import SummarizerEngine
from vidpipe_summarizer.llm import OpenAICompatibleBackend
from vidpipe_summarizer.settings import SummarizerSettings
from vidpipe_summarizer.transcript import Transcript, TranscriptSegment

SUMMARY = {
    "summary": "The team discusses a simpler remote control with a small menu display like a mobile phone.",
    "title": "Remote control design",
    "keywords": ["remote control", "menu", "display", "mobile phone", "buttons"],
}
NOTES = {"summary": "They talk about buttons and a menu display.", "title": "Buttons and menus", "keywords": ["menu"]}
SENTENCES = [
    "A remote control with fewer buttons and a menu display would be simpler for most people.",
    "Like the menu on a mobile phone, with a small display and a scroll wheel for the options.",
    "The buttons for volume and channel should stay, everything else can move into the menu.",
    "We should test the display with older users before we decide on the size of the symbols.",
]


class VllmRequestServer:
    """POST /v1/chat/completions: validate as vLLM does, then answer with valid output for the schema asked."""

    def __init__(self, validator: subprocess.Popen[str]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.sampling: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        self.bad_outputs = 0  # answer this many requests with output that is not JSON
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                assert validator.stdin is not None and validator.stdout is not None
                with server.lock:  # one line in, one line out: keep pairs together
                    validator.stdin.write(json.dumps(body) + "\n")
                    validator.stdin.flush()
                    verdict = json.loads(validator.stdout.readline())
                if not verdict["ok"]:  # what vLLM turns into its 400 error response
                    server.rejected.append(verdict["error"])
                    self.reply(400, {"object": "error", "message": verdict["error"], "type": "BadRequestError"})
                    return
                server.sampling.append(verdict)
                name = body["response_format"]["json_schema"]["name"]
                if server.bad_outputs:
                    server.bad_outputs -= 1
                    content = "Sure! Here is the summary you asked for."
                elif name == "LlmSummaryWithChapters":
                    count = body["response_format"]["json_schema"]["schema"]["properties"]["chapters"]["maxItems"]
                    content = json.dumps({**SUMMARY, "chapters": [f"Part {n}" for n in range(1, count + 1)]})
                else:
                    content = json.dumps(SUMMARY if name == "LlmSummary" else NOTES)
                self.reply(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                })  # fmt: skip

            def reply(self, status: int, document: dict[str, Any]) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def validator() -> Iterator[subprocess.Popen[str]]:
    python = Path(sys.executable).parent.parent / "vllm" / "bin" / "python"
    script = Path(__file__).parent / "vllm_validate.py"
    process = subprocess.Popen([str(python), str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


@pytest.fixture
def vllm(validator: subprocess.Popen[str]) -> Iterator[VllmRequestServer]:
    server = VllmRequestServer(validator)
    yield server
    server.close()


def engine(server: VllmRequestServer, context_tokens: int = 16384, **settings: Any) -> SummarizerEngine:
    """The production engine as terraform/ configures it (model name, context from vllm_max_model_len)."""
    backend = OpenAICompatibleBackend(
        base_url=server.base_url,
        model="meta-llama/Llama-3.2-3B-Instruct",
        context_tokens=context_tokens,
        http_retries=0,
    )
    return SummarizerEngine(backend, SummarizerSettings(engine="openai", **settings))


def transcript(minutes: float, sentences_per_turn: int = 1) -> Transcript:
    segments = []
    t, i = 0.0, 0
    while t < minutes * 60:
        text = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(sentences_per_turn))
        segments.append(TranscriptSegment(start=t, end=t + 8.0, speaker=f"SPEAKER_0{i % 2}", text=text))
        t, i = t + 8.0, i + 1
    return Transcript(language="en", speaker_names={"SPEAKER_00": "Alice"}, segments=segments)


def check_vllm_reading(server: VllmRequestServer) -> set[str]:
    """No body was rejected, and vLLM read each one as the engine meant it. Returns the schema names seen."""
    assert server.rejected == []
    assert len(server.sampling) == len(server.bodies) > 0
    names = set()
    for body, params in zip(server.bodies, server.sampling, strict=True):
        schema = body["response_format"]["json_schema"]
        names.add(schema["name"])
        assert params["structured_json"] == schema["schema"], "vLLM would not decode under the engine's schema"
        assert params["max_tokens"] == body["max_tokens"]
        assert params["temperature"] == body["temperature"] and params["seed"] == body["seed"]
    return names


def test_one_pass_summary(vllm: VllmRequestServer) -> None:
    summary = engine(vllm).summarize(transcript(1))
    assert summary.title == SUMMARY["title"]
    assert check_vllm_reading(vllm) == {"LlmSummary"} and len(vllm.bodies) == 1


def test_one_pass_with_chapters(vllm: VllmRequestServer) -> None:
    # The chapter count is fixed by minItems/maxItems on the array: vLLM must read that schema as sent
    summary = engine(vllm, chapter_target_s=180.0).summarize(transcript(12))
    assert summary.chunk_count == 1 and [c.title for c in summary.chapters] == ["Part 1", "Part 2", "Part 3", "Part 4"]
    assert check_vllm_reading(vllm) == {"LlmSummaryWithChapters"} and len(vllm.bodies) == 1


def test_map_reduce_with_chapters(vllm: VllmRequestServer) -> None:
    summary = engine(vllm, context_tokens=2560, chapter_target_s=180.0).summarize(transcript(12))
    assert summary.chunk_count >= 2 and len(summary.chapters) == summary.chunk_count
    assert check_vllm_reading(vllm) == {"LlmChunkNotes", "LlmSummary"}


def test_chunks_without_chapters_when_the_context_is_small(vllm: VllmRequestServer) -> None:
    summary = engine(vllm, context_tokens=2048).summarize(transcript(4, sentences_per_turn=2))
    assert summary.chunk_count >= 2 and summary.chapters == []
    assert check_vllm_reading(vllm) == {"LlmChunkNotes", "LlmSummary"}


def test_intermediate_reduce_rounds(vllm: VllmRequestServer) -> None:
    # A long recording in a small context: more notes than one reduce prompt holds, so notes are merged first.
    summary = engine(vllm, context_tokens=2048, chapter_target_s=60.0).summarize(transcript(60))
    notes_requests = [b for b in vllm.bodies if b["response_format"]["json_schema"]["name"] == "LlmChunkNotes"]
    assert len(notes_requests) > summary.chunk_count  # map requests plus at least one merge
    assert check_vllm_reading(vllm) == {"LlmChunkNotes", "LlmSummary"}


def test_sampled_retry_after_invalid_output(vllm: VllmRequestServer) -> None:
    vllm.bad_outputs = 1
    engine(vllm).summarize(transcript(1))
    assert vllm.bodies[0]["temperature"] == 0.0
    assert vllm.bodies[1]["temperature"] > 0.0 and vllm.bodies[1]["seed"] == vllm.bodies[0]["seed"] + 1
    check_vllm_reading(vllm)
