"""The production WhisperX engine, end to end on CPU int8 with the smallest shipped Whisper (tiny.en).

Everything is the real code path of the GPU image except the two hub-only models, which are injected through
the engine's public constructor (tests/production/standins.py): whisperx's batched faster-whisper pipeline with
its shipped pyannote VAD, whisperx.align over a small wav2vec2 model, whisperx's DiarizationPipeline around a
pyannote-contract pipeline answered by the project's CAM++ diarizer, then the project's word→speaker join.
A second group proves the real loaders fail with our clear error when their weights are not on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from standins import TWO_VOICES_CHANGE_S, AlignerLoads, CamPlusPlusPyannotePipeline, write_pipeline_config

from vidpipe.errors import PermanentError, RetryableError
from vidpipe_transcriber.engine import run
from vidpipe_transcriber.evaluation import wer
from vidpipe_transcriber.loader import load_engine
from vidpipe_transcriber.models import TranscribeOptions, Transcript
from vidpipe_transcriber.settings import TranscriberSettings
from vidpipe_transcriber.weights import resolve_whisper_model
from vidpipe_transcriber.whisperx_engine import (
    WhisperXEngine,
    load_aligner_model,
    load_diarization_pipeline,
    load_whisperx_engine,
)

JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


class DiarizerLoads:
    """The engine's `load_diarizer`: whisperx's real DiarizationPipeline over the stand-in pyannote pipeline."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.count = 0

    def __call__(self) -> object:
        from whisperx.diarize import DiarizationPipeline

        self.count += 1
        # A local directory holding config.yaml is loaded by pyannote exactly like a hub pipeline.
        return DiarizationPipeline(model_name=str(self.checkpoint), device="cpu")


def settings(**overrides: object) -> TranscriberSettings:
    values: dict[str, object] = {
        "engine": "whisperx",
        "model": str(resolve_whisper_model("tiny.en")),
        "device": "cpu",
        "compute_type": "int8",
        "cpu_threads": 2,
        "batch_size": 4,
    }
    return TranscriberSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
def aligner_loads() -> AlignerLoads:
    return AlignerLoads()


@pytest.fixture(scope="module")
def diarizer_loads(tmp_path_factory: pytest.TempPathFactory) -> DiarizerLoads:
    return DiarizerLoads(write_pipeline_config(tmp_path_factory.mktemp("pipeline")))


@pytest.fixture(scope="module")
def engine(nltk_data: Path, aligner_loads: AlignerLoads, diarizer_loads: DiarizerLoads) -> WhisperXEngine:
    # The real Whisper loader (whisperx.load_model with the engine's arguments); the stand-ins by injection.
    return load_whisperx_engine(settings(), load_aligner=aligner_loads, load_diarizer=diarizer_loads)


def check_words(transcript: Transcript) -> None:
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= transcript.duration for w in transcript.words)
    for segment in transcript.segments:
        assert {w.speaker for w in segment.words} == {segment.speaker}
        assert segment.start <= segment.words[0].start and segment.words[-1].end <= segment.end + 1e-6


def test_jfk_transcribed_aligned_and_one_speaker(engine: WhisperXEngine, audio_dir: Path) -> None:
    CamPlusPlusPyannotePipeline.calls.clear()
    progress: list[tuple[float, str]] = []
    transcript = run(
        engine, audio_dir / "jfk.flac", TranscribeOptions(language="en"), lambda f, d: progress.append((f, d))
    )

    assert transcript.engine == "whisperx" and transcript.language == "en"
    assert wer(JFK_TEXT, transcript.text) == 0.0
    assert len(transcript.words) == 22
    check_words(transcript)
    assert [s.label for s in transcript.speakers] == ["SPEAKER_00"]
    assert {w.speaker for w in transcript.words} == {"SPEAKER_00"}
    # The default speaker-count bound reaches pyannote's call.
    assert CamPlusPlusPyannotePipeline.calls == [{"min_speakers": None, "max_speakers": 8}]
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    details = {d for _, d in progress}
    assert {"transcribing", "aligning words", "diarizing", "done"} <= details


def test_two_speakers_joined_to_words(engine: WhisperXEngine, two_voices: Any) -> None:
    transcript = engine.transcribe(two_voices, TranscribeOptions(language="en"))
    assert [s.label for s in transcript.speakers] == ["SPEAKER_00", "SPEAKER_01"]
    check_words(transcript)
    # Diarization through the engine: each voice owns the turns on its side of the change.
    before = {t.speaker for t in transcript.turns if t.end <= TWO_VOICES_CHANGE_S}
    after = {t.speaker for t in transcript.turns if t.start >= TWO_VOICES_CHANGE_S}
    assert (before, after) == ({"SPEAKER_00"}, {"SPEAKER_01"})
    # The word -> speaker join: a word carries the speaker of the turn it overlaps most. (The stand-in
    # aligner's word times are not meaningful, so the join is checked against the times it gave.)
    joined = 0
    for word in transcript.words:
        overlaps = {t.speaker: 0.0 for t in transcript.turns}
        for t in transcript.turns:
            overlaps[t.speaker] += max(0.0, min(word.end, t.end) - max(word.start, t.start))
        best = max(overlaps, key=lambda speaker: overlaps[speaker])
        if overlaps[best] > 0:
            assert word.speaker == best, word
            joined += 1
    assert joined >= len(transcript.words) // 2
    assert len(transcript.segments) >= 2


def test_speaker_hints_reach_pyannote_and_bound_the_count(
    engine: WhisperXEngine, audio_dir: Path, two_voices: Any
) -> None:
    CamPlusPlusPyannotePipeline.calls.clear()
    one = engine.transcribe(two_voices, TranscribeOptions(language="en", max_speakers=1))
    assert [s.label for s in one.speakers] == ["SPEAKER_00"]
    two = run(engine, audio_dir / "jfk.flac", TranscribeOptions(language="en", min_speakers=2, max_speakers=2))
    assert len(two.speakers) == 2
    assert CamPlusPlusPyannotePipeline.calls == [
        {"min_speakers": None, "max_speakers": 1},
        {"min_speakers": 2, "max_speakers": 2},
    ]


def test_aligner_loaded_once_per_language_and_diarizer_once(
    engine: WhisperXEngine, aligner_loads: AlignerLoads, diarizer_loads: DiarizerLoads
) -> None:
    # Earlier tests ran several English jobs with diarization on this engine.
    assert aligner_loads.languages == ["en"]
    assert diarizer_loads.count == 1


def test_a_job_without_diarization_never_builds_the_diarizer(nltk_data: Path, audio_dir: Path) -> None:
    def no_diarizer() -> object:
        raise AssertionError("the diarizer was built for a job that does not diarize")

    engine = load_whisperx_engine(settings(), load_aligner=AlignerLoads(), load_diarizer=no_diarizer)
    transcript = run(engine, audio_dir / "jfk.flac", TranscribeOptions(language="en", diarize=False))
    assert wer(JFK_TEXT, transcript.text) == 0.0
    assert transcript.speakers == [] and {w.speaker for w in transcript.words} == {None}


def test_prompt_and_hotwords_reach_the_decoder_per_job(engine: WhisperXEngine, audio_dir: Path) -> None:
    options = TranscribeOptions(language="en", hotwords="Kennedy", initial_prompt="Inaugural address.", diarize=False)
    transcript = run(engine, audio_dir / "jfk.flac", options)
    assert wer(JFK_TEXT, transcript.text) == 0.0
    assert engine._asr.options.initial_prompt == "Inaugural address."
    assert engine._asr.options.hotwords == "Kennedy"


def test_the_factory_builds_the_whisperx_engine(nltk_data: Path) -> None:
    loaded = load_engine(settings())
    assert isinstance(loaded, WhisperXEngine) and loaded.name == "whisperx"


# ------------------------------------------------------------------------------- missing weights: clear errors


@pytest.fixture
def offline_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TranscriberSettings:
    """An image built without weights: empty models dir and caches, hub offline, downloads refused."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by the tier's runner, as in the GPU image
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # torch.hub downloads with urllib: a dead proxy makes it fail at once, whatever this machine can reach.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    (tmp_path / "models").mkdir()
    return settings(model="large-v3", models_dir=tmp_path / "models")


def test_missing_whisper_weights_fail_at_load_with_a_clear_error(offline_empty: TranscriberSettings) -> None:
    with pytest.raises(RetryableError) as caught:
        load_whisperx_engine(offline_empty)
    assert caught.value.code == "model_missing"
    assert "'large-v3'" in caught.value.message and str(offline_empty.models_dir) in caught.value.message


def test_missing_aligner_is_a_clear_error_not_a_url_error(offline_empty: TranscriberSettings) -> None:
    from urllib.error import URLError

    with pytest.raises(RetryableError) as caught:
        load_aligner_model(offline_empty, "en")
    assert caught.value.code == "model_missing"
    assert "WAV2VEC2_ASR_BASE_960H" in caught.value.message
    assert isinstance(caught.value.__cause__, URLError)


def test_missing_hugging_face_aligner_is_a_clear_error(offline_empty: TranscriberSettings) -> None:
    # Japanese's default aligner is a Hugging Face model (whisperx raises ValueError for it when absent).
    with pytest.raises(RetryableError) as caught:
        load_aligner_model(offline_empty, "ja")
    assert caught.value.code == "model_missing" and "'ja'" in caught.value.message


def test_a_language_without_any_aligner_is_unsupported(offline_empty: TranscriberSettings) -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    orphan = next(
        c for c in _LANGUAGE_CODES if c not in DEFAULT_ALIGN_MODELS_TORCH and c not in DEFAULT_ALIGN_MODELS_HF
    )
    with pytest.raises(PermanentError) as caught:
        load_aligner_model(offline_empty, orphan)
    assert caught.value.code == "unsupported_language"


def test_missing_diarization_pipeline_is_a_clear_error(offline_empty: TranscriberSettings) -> None:
    with pytest.raises(RetryableError) as caught:
        load_diarization_pipeline(offline_empty)
    assert caught.value.code == "model_missing"
    assert "pyannote/speaker-diarization-community-1" in caught.value.message


def test_a_job_whose_aligner_is_missing_fails_retryably(
    engine: WhisperXEngine, offline_empty: TranscriberSettings, audio_dir: Path
) -> None:
    # The Whisper model is present (tiny.en) but the aligner weights are not: the default loader is used.
    broken = WhisperXEngine(asr=engine._asr, settings=settings(models_dir=offline_empty.models_dir))
    with pytest.raises(RetryableError) as caught:
        run(broken, audio_dir / "jfk.flac", TranscribeOptions(language="en"))
    assert caught.value.code == "model_missing"
