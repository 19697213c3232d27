"""docker/fetch_transcriber_models.py against a fake hub cache, then the engine's real loaders from what it left.

The fake cache holds, in the layouts the real downloaders write, what the image build would have fetched:
Whisper tiny.en (real, shipped weights) as the hub repo faster-whisper maps the name to; the English wav2vec2
bundle's checkpoint file (real architecture, random weights) where torch.hub saves it; a pyannote pipeline repo
whose config.yaml names the CAM++ stand-in; NLTK's punkt_tab. Every directory comes from the GPU stage's ENV
lines in docker/transcriber.Dockerfile (with /opt/models moved to a temp dir), so the script, the Dockerfile
and the engine are held to one set of paths: if any of them looked elsewhere, a load below would fail.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from standins import (
    CamPlusPlusPyannotePipeline,
    write_pipeline_config,
    write_punkt_tab,
    write_random_english_bundle_checkpoint,
)

from vidpipe.errors import RetryableError
from vidpipe_transcriber.engine import run
from vidpipe_transcriber.models import TranscribeOptions
from vidpipe_transcriber.settings import TranscriberSettings
from vidpipe_transcriber.weights import resolve_whisper_model
from vidpipe_transcriber.whisperx_engine import load_diarization_pipeline, load_whisperx_engine

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "transcriber.Dockerfile"
FETCH = REPO / "docker" / "fetch_transcriber_models.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PATHS = ("TRANSCRIBER_MODELS_DIR", "NLTK_DATA", "HF_HOME", "TORCH_HOME")


def gpu_stage_env(until: str | None = None) -> dict[str, str]:
    """The ENV values of the Dockerfile's gpu stage, those set before the line containing `until` if given."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stage = text[text.index(" AS gpu") :]
    if until is not None:
        stage = stage[: stage.index(until)]
    env: dict[str, str] = {}
    for line in stage.splitlines():
        if line.startswith("ENV "):
            for token in shlex.split(line[4:]):
                name, _, value = token.partition("=")
                env[name] = value
    return env


def relocate(env: dict[str, str], root: Path) -> dict[str, str]:
    return {k: v.replace("/opt/models", str(root)) for k, v in env.items() if k.startswith(("TRANSCRIBER_", *PATHS))}


def hub_repo(cache: Path, repo_id: str) -> Path:
    """An empty snapshot of `repo_id` in huggingface_hub's cache layout; returns the snapshot directory."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("opt-models")
    build_env = relocate(gpu_stage_env(until="fetch_transcriber_models.py"), root)
    models_dir = Path(build_env["TRANSCRIBER_MODELS_DIR"])
    # The fake hub cache: what the build's downloads leave behind.
    whisper = hub_repo(models_dir, "Systran/faster-whisper-tiny.en")
    for file in resolve_whisper_model("tiny.en").iterdir():
        if file.is_file():
            (whisper / file.name).symlink_to(file)
    write_random_english_bundle_checkpoint(models_dir)
    write_pipeline_config(hub_repo(models_dir, build_env["TRANSCRIBER_DIARIZATION_MODEL"]))
    write_punkt_tab(Path(build_env["NLTK_DATA"]))

    env = {
        **os.environ,
        **build_env,
        "TRANSCRIBER_MODEL": "tiny.en",  # the image's large-v3 is 3 GB; the name → repo mapping is the same code
        "HF_HUB_OFFLINE": "1",
        "HF_TOKEN_FILE": str(root / "no-token"),
        "PYTHONPATH": str(Path(__file__).parent),
    }
    env.pop("HF_TOKEN", None)
    done = subprocess.run([sys.executable, str(FETCH)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"in {models_dir}" in done.stdout
    return {**relocate(gpu_stage_env(), root), "TRANSCRIBER_MODEL": "tiny.en"}


def test_every_baked_path_is_under_the_directory_the_build_makes_readable() -> None:
    env = gpu_stage_env()
    assert all(env[name].startswith("/opt/models") for name in PATHS)
    assert "chmod -R a+rX /opt/models" in DOCKERFILE.read_text()
    # Build and run time see the same values: nothing the fetch used is redefined after it.
    before = gpu_stage_env(until="fetch_transcriber_models.py")
    assert {k: env[k] for k in before} == before
    assert env["HF_HUB_OFFLINE"] == "1" and "HF_HUB_OFFLINE" not in before


def test_the_engine_loads_everything_the_script_fetched(
    fetched: dict[str, str], monkeypatch: pytest.MonkeyPatch, audio_dir: Path
) -> None:
    # The worker's settings come from the image's runtime ENV; only the device differs on this machine.
    for name, value in fetched.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRANSCRIBER_DEVICE", "cpu")
    monkeypatch.setenv("TRANSCRIBER_COMPUTE_TYPE", "int8")
    monkeypatch.setenv("TRANSCRIBER_CPU_THREADS", "2")
    import nltk

    monkeypatch.setattr(nltk.data, "path", [fetched["NLTK_DATA"]])
    settings = TranscriberSettings()
    assert settings.engine == "whisperx" and str(settings.models_dir) == fetched["TRANSCRIBER_MODELS_DIR"]

    CamPlusPlusPyannotePipeline.loads.clear()
    engine = load_whisperx_engine(settings)  # the real loaders throughout
    transcript = run(engine, audio_dir / "jfk.flac", TranscribeOptions(language="en"))

    # (The aligner's weights are random: word times are real alignments, the text comes from Whisper.)
    assert len(transcript.words) == 22 and [s.label for s in transcript.speakers] == ["SPEAKER_00"]
    # pyannote found the pipeline in the models dir, not in $HF_HOME/hub.
    assert [load["cache_dir"] for load in CamPlusPlusPyannotePipeline.loads] == [fetched["TRANSCRIBER_MODELS_DIR"]]


def test_a_pipeline_cached_under_hf_home_is_not_found(
    fetched: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The original bug: the script downloaded pyannote into $HF_HOME/hub while the engine reads the models dir.
    import huggingface_hub.constants

    hub_cache = tmp_path / "hf" / "hub"
    repo = "models--pyannote--speaker-diarization-community-1"
    shutil.copytree(Path(fetched["TRANSCRIBER_MODELS_DIR"]) / repo, hub_cache / repo, symlinks=True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    (tmp_path / "models").mkdir()
    with pytest.raises(RetryableError) as caught:
        load_diarization_pipeline(TranscriberSettings(engine="whisperx", device="cpu", models_dir=tmp_path / "models"))
    assert caught.value.code == "model_missing"
    # The copy itself is good: without a models dir the loader finds it in the default cache.
    assert load_diarization_pipeline(TranscriberSettings(engine="whisperx", device="cpu")) is not None
