"""Summarizer settings (`SUMMARIZER_*`), read once by an entry point and passed down; never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from vidpipe_summarizer.build import QWEN25_CODER_15B, SHIPPED_MODELS, default_cache_dir, default_llama_server_path


class SummarizerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUMMARIZER_", env_file=None, extra="ignore", frozen=True, env_parse_none_str=""
    )

    engine: Literal["local", "openai"] = Field(
        "local",
        description="`local`: start llama-server on loopback with a shipped GGUF (CPU, offline). "
        "`openai`: talk to an already running OpenAI-compatible server (vLLM in production).",
    )

    # --- openai engine (production) ---
    base_url: str = Field(
        "http://127.0.0.1:8001/v1",
        description="OpenAI-compatible API root of the production server, with `/v1` (the vLLM service).",
    )
    model: str = Field(
        "meta-llama/Llama-3.2-3B-Instruct",
        description="Model name sent in each request (vLLM: the served model name).",
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for the server, if it requires one.")
    context_tokens: int = Field(
        8192,
        ge=1024,
        description="Context window of the production model as served (vLLM --max-model-len); "
        "transcripts longer than fits are summarised map-reduce.",
    )
    chars_per_token: float = Field(
        3.0,
        gt=0.5,
        description="Conservative characters-per-token estimate for non-CJK text when the server offers no "
        "tokenizer endpoint (the openai engine); CJK characters always count as one token each.",
    )

    # --- local engine (llama-server subprocess) ---
    local_model: str = Field(
        QWEN25_CODER_15B.name,
        description=f"Shipped GGUF the local engine serves: one of {sorted(SHIPPED_MODELS)}; "
        "ignored when local_model_path is set.",
    )
    local_model_path: Path | None = Field(
        None, description="Explicit GGUF file for the local engine (overrides local_model)."
    )
    llama_server_binary: Path = Field(
        default_factory=default_llama_server_path,
        description="llama-server executable, built by `python -m vidpipe_summarizer.build` (default "
        "$VIDPIPE_CACHE_DIR or ~/.cache/vidpipe, then llama-server-<llama-cpp-python version>/llama-server).",
    )
    local_context_tokens: int = Field(
        5120,
        ge=512,
        description="llama-server -c: context window of the local model (its KV cache, ~28 KB a token for the "
        "1.5B); a transcript whose prompt and longest possible answer do not fit is summarised map-reduce.",
    )
    local_repeat_penalty: float = Field(
        1.1,
        ge=1.0,
        le=2.0,
        description="llama.cpp repeat_penalty for the local model: small models otherwise loop on one sentence "
        "until the length bound (1.0 turns it off).",
    )
    local_threads: int | Literal["auto"] = Field(
        "auto",
        description="llama-server threads. `auto` (default): per request, as many as there are cores free right "
        "now (measured from /proc/stat over 0.3 s; at least 1), each count served by its own llama-server "
        "sharing the model's memory map. llama.cpp's threads meet at a spinning barrier after every layer, "
        "so on 2 cores 2 threads are ~1.7-2x faster than 1 when idle, but collapse (~1 tok/s vs ~5) when other "
        "work (the transcriber) holds a core. A number pins it.",
    )
    local_draft_model: str | None = Field(
        None,
        description="Shipped GGUF used as the speculative-decoding draft for the local model (e.g. "
        "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M for the 1.5B); off by default (README: measured not to pay on "
        "this CPU).",
    )
    local_draft_max_tokens: int = Field(8, ge=1, le=32, description="Tokens the draft proposes per step.")
    local_prompt_state_dir: Path | None = Field(
        default_factory=lambda: default_cache_dir() / "prompt-state",
        description="Where llama-server saves the system prompt's KV cache (a few MB per model) so that the next "
        "start restores it instead of reading the prompt again (about 6 s of a one-shot `vidpipe summarize` on "
        "two cores). Unset it (empty) to turn saving off, e.g. on a read-only file system.",
    )
    local_startup_timeout_s: float = Field(
        120.0, gt=0, description="How long to wait for llama-server's /health after starting it."
    )

    # --- both engines ---
    request_timeout_s: float = Field(
        300.0, gt=0, description="Per-request read timeout; a CPU model can take minutes on a long chunk."
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="Per-request connect timeout.")
    http_retries: int = Field(
        2,
        ge=0,
        description="Extra tries after a timeout, connection error, 429 or 5xx, then RetryableError.",
    )
    http_backoff_s: float = Field(1.0, ge=0, description="First back-off between HTTP retries (doubles each time).")
    max_attempts: int = Field(
        3,
        ge=1,
        description="Generations per LLM call whose output fails JSON/schema validation before the job fails "
        "with PermanentError(llm_output_invalid).",
    )
    seed: int = Field(1234, description="Sampling seed; with temperature 0 the first attempt is greedy anyway.")
    retry_temperature: float = Field(
        0.4,
        ge=0,
        description="Temperature of attempts after the first: a greedy retry would repeat the same output.",
    )
    chapter_min_duration_s: float = Field(
        300.0,
        ge=0,
        description="Transcripts at least this long get chapters; shorter ones get an empty chapter list.",
    )
    chapter_target_s: float = Field(
        180.0,
        gt=0,
        description="Preferred chapter length; chapters grow for long transcripts (see max_chapters).",
    )
    max_chapters: int = Field(12, ge=1, description="Chapters a transcript aims for at most (time-based split).")
    keyword_fallback: bool = Field(
        True,
        description="Top the keyword list up to 5 from yake's keyphrases over the transcript when the model's "
        "grounded topic phrases are fewer (keywords only; a summary is never made up without the model).",
    )
