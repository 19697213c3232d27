"""One LLM interface and its HTTP client for OpenAI-compatible servers (vLLM in production, llama-server
locally).

Only the OpenAI `response_format: {"type": "json_schema", ...}` shape is sent: it is the one request that
both vLLM and llama-server decode under a schema (vLLM dropped `guided_json` and now ignores it silently).

Failure classes: the server being unreachable, slow, throttling or failing (5xx) is the world's fault and
ends in RetryableError after a few quick retries; a 4xx other than 408/429 means our request is wrong and
retrying cannot help (PermanentError). What the model *wrote* is judged by the engine, not here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx
import msgspec

from vidpipe.errors import PermanentError, RetryableError

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a chat completion the engine uses; `content` is None if the response was malformed."""

    content: str | None
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings: dict[str, float] | None = None
    """llama-server's own measurements (prompt_per_second, predicted_per_second...); None from vLLM."""
    wall_s: float = 0.0
    """Seconds from sending the request to the last byte of the answer (HTTP retries included)."""


GenerationProgress = Callable[[float], None]
"""Called while a completion streams in with how far it is (0..1): the prompt read, then tokens written."""


class LlmBackend(Protocol):
    """What the summarizer needs from a model server; the local and production engines both provide it."""

    @property
    def model_name(self) -> str: ...

    @property
    def context_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt (exact where the server can tell, else a safe over-estimate)."""
        ...

    def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        progress: GenerationProgress | None = None,
    ) -> Completion: ...

    def close(self) -> None: ...


class _Choice(msgspec.Struct):
    message: dict[str, Any] = {}
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _ChatResponse(msgspec.Struct):
    choices: list[_Choice] = []
    usage: _Usage | None = None
    timings: dict[str, float] | None = None


class _StreamChoice(msgspec.Struct):
    delta: dict[str, Any] = {}
    finish_reason: str | None = None


class _PromptProgress(msgspec.Struct):
    total: int = 0
    cache: int = 0
    processed: int = 0


class _ChatChunk(msgspec.Struct):
    """One server-sent event of a streamed completion (llama-server adds prompt_progress and timings)."""

    choices: list[_StreamChoice] = []
    usage: _Usage | None = None
    timings: dict[str, float] | None = None
    prompt_progress: _PromptProgress | None = None


_response_decoder = msgspec.json.Decoder(_ChatResponse)
_chunk_decoder = msgspec.json.Decoder(_ChatChunk)

# Share of a call's progress given to reading the prompt; the rest is generation. On CPU the two take about
# as long for a one-pass summary (600 prompt tokens at 2-4x the generation rate, ~150 tokens written).
PROMPT_SHARE = 0.5
# Tokens a summary usually takes, for the generation part of the progress (the bound is 5-7x this).
EXPECTED_OUTPUT_TOKENS = 160


def estimate_tokens(text: str, chars_per_token: float) -> int:
    """Tokens of `text` without a tokenizer: CJK characters are about one token each, the rest
    `chars_per_token` characters per token (3.0 over-estimates English for Llama/Qwen tokenizers)."""
    cjk = sum(1 for ch in text if ch >= "\u2e80")
    return cjk + int((len(text) - cjk) / chars_per_token) + 1


class OpenAICompatibleBackend:
    """HTTP client for `/v1/chat/completions`: the production engine, and the transport of the local one."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        context_tokens: int,
        api_key: str | None = None,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 300.0,
        http_retries: int = 2,
        http_backoff_s: float = 1.0,
        chars_per_token: float = 3.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self._model = model
        self._context_tokens = context_tokens
        self._chars_per_token = chars_per_token
        self._retries = http_retries
        self._backoff_s = http_backoff_s
        self._extra_body = extra_body or {}
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
        )

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text, self._chars_per_token)

    def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        progress: GenerationProgress | None = None,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            },
            **self._extra_body,
        }
        started = time.monotonic()
        if progress is not None:
            return self._complete_streamed(body, progress, started)
        response = self.post("chat/completions", body)
        try:
            parsed = _response_decoder.decode(response.content)
        except msgspec.DecodeError:
            return Completion(content=None, finish_reason=None, wall_s=time.monotonic() - started)
        choice = parsed.choices[0] if parsed.choices else None
        content = choice.message.get("content") if choice else None
        return Completion(
            content=content if isinstance(content, str) else None,
            finish_reason=choice.finish_reason if choice else None,
            prompt_tokens=parsed.usage.prompt_tokens if parsed.usage else None,
            completion_tokens=parsed.usage.completion_tokens if parsed.usage else None,
            timings=parsed.timings,
            wall_s=time.monotonic() - started,
        )

    def _complete_streamed(self, body: dict[str, Any], progress: GenerationProgress, started: float) -> Completion:
        """The same request as server-sent events, so a long generation can report how far it is. Both vLLM and
        llama-server stream the OpenAI way; llama-server also streams prompt progress (`return_progress`)."""
        body = body | {"stream": True, "stream_options": {"include_usage": True}}
        pieces: list[str] = []
        finish_reason: str | None = None
        usage: _Usage | None = None
        timings: dict[str, float] | None = None
        tokens = 0
        malformed = False
        try:
            with self._open_stream("chat/completions", body) as response:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = _chunk_decoder.decode(data)
                    except msgspec.DecodeError:
                        malformed = True
                        continue
                    if chunk.prompt_progress is not None and chunk.prompt_progress.total:
                        pp = chunk.prompt_progress
                        # Cached tokens cost nothing: progress is over the tokens actually read.
                        todo = max(1, pp.total - pp.cache)
                        progress(PROMPT_SHARE * min(1.0, max(0, pp.processed - pp.cache) / todo))
                    for choice in chunk.choices:
                        text = choice.delta.get("content")
                        if isinstance(text, str) and text:
                            pieces.append(text)
                            tokens += 1
                            progress(PROMPT_SHARE + (1 - PROMPT_SHARE) * min(0.99, tokens / EXPECTED_OUTPUT_TOKENS))
                        finish_reason = choice.finish_reason or finish_reason
                    usage = chunk.usage or usage
                    timings = chunk.timings or timings
        except httpx.TimeoutException as exc:
            raise RetryableError(
                "llm_timeout", f"The LLM server at {self._http.base_url} stalled mid-answer ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableError(
                "llm_unavailable", f"The LLM server at {self._http.base_url} dropped the answer: {exc}"
            ) from exc
        return Completion(
            content=None if malformed and not pieces else "".join(pieces),
            finish_reason=finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            timings=timings,
            wall_s=time.monotonic() - started,
        )

    @contextlib.contextmanager
    def _open_stream(self, path: str, body: dict[str, Any]) -> Iterator[httpx.Response]:
        """`post`'s retries and error classes, for a response whose body is read as it arrives."""
        response = self.post(path, body, stream=True)
        try:
            yield response
        finally:
            response.close()

    def post(self, path: str, body: dict[str, Any], *, stream: bool = False) -> httpx.Response:
        """POST with quick retries for transient trouble; returns a 2xx response or raises a StageError.
        With `stream`, a 2xx response's body is left unread (the caller reads it and closes the response)."""
        last_problem = ""
        timed_out = False
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                request = self._http.build_request("POST", path, content=msgspec.json.encode(body), headers=_JSON)
                response = self._http.send(request, stream=stream)
                if stream and not response.is_success:
                    response.read()
                    response.close()
            except httpx.TimeoutException as exc:
                last_problem, timed_out = f"timed out ({type(exc).__name__})", True
                continue
            except httpx.TransportError as exc:
                last_problem, timed_out = f"unreachable ({type(exc).__name__}: {exc})", False
                continue
            if response.is_success:
                return response
            detail = response.text[:300]
            if response.status_code in _RETRYABLE_STATUS:
                last_problem, timed_out = f"HTTP {response.status_code}: {detail}", False
                continue
            raise PermanentError(
                "llm_request_rejected",
                f"The LLM server at {self._http.base_url} rejected the request (HTTP {response.status_code}): {detail}",
            )
        raise RetryableError(
            "llm_timeout" if timed_out else "llm_unavailable",
            f"The LLM server at {self._http.base_url} failed {self._retries + 1} times, last: {last_problem}",
        )

    def close(self) -> None:
        self._http.close()


_JSON = {"Content-Type": "application/json"}
