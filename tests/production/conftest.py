"""The production tier: the GPU images' Python stacks on CPU, in their own venv (`make test-production`).

These tests import whisperx, pyannote and vLLM, which the project's .venv does not have (and must not: they pin
other versions), so under the project's own `pytest` run this directory is not collected at all. The tier's
runner sets VIDPIPE_PRODUCTION_TIER=1 and runs with tests/production/pytest.ini.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

if os.environ.get("VIDPIPE_PRODUCTION_TIER") != "1":
    collect_ignore_glob = ["*.py"]
else:
    # The stand-ins are named by dotted path in a pyannote config.yaml, so they must be importable.
    sys.path.insert(0, str(HERE))


# The repository's own recordings (tests/data/audio, see NOTICE): the tier needs nothing beside the checkout.
AUDIO = REPO / "tests" / "data" / "audio"


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    if not (AUDIO / "jfk.flac").is_file():
        pytest.fail(f"the repository's test audio is missing: {AUDIO}")
    return AUDIO


@pytest.fixture(scope="session")
def two_voices(audio_dir: Path) -> object:
    """A two-voice clip made from them, as the transcriber's own tests make it: Kennedy (0-11 s), 1 s of
    silence, then one AMI participant alone (44.5-53.8 s of the mixture, where its RTTM has nobody else
    talking); the change is at `standins.TWO_VOICES_CHANGE_S`. A 16 kHz waveform, the engine's input."""
    import numpy as np

    from vidpipe_transcriber.audio import SAMPLE_RATE, decode_audio

    ami = decode_audio(audio_dir / "ami-mixture.flac")[int(44.5 * SAMPLE_RATE) : int(53.8 * SAMPLE_RATE)]
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    return np.concatenate([decode_audio(audio_dir / "jfk.flac"), silence, ami])


@pytest.fixture(scope="session")
def nltk_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NLTK_DATA holding the stand-in punkt_tab, the way the GPU image sets NLTK_DATA to its baked copy."""
    from standins import write_punkt_tab

    path = write_punkt_tab(tmp_path_factory.mktemp("nltk_data"))
    os.environ["NLTK_DATA"] = str(path)
    import nltk

    if str(path) not in nltk.data.path:
        nltk.data.path.insert(0, str(path))
    return path
