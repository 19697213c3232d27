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


def reference_audio() -> Path:
    """../shared/data/audio beside the checkout (VIDPIPE_REFERENCE_DATA overrides); fails, never skips."""
    root = Path(os.environ["VIDPIPE_REFERENCE_DATA"]) if "VIDPIPE_REFERENCE_DATA" in os.environ else None
    audio = (root or REPO.parent / "shared" / "data") / "audio"
    if not (audio / "jfk.wav").is_file():
        pytest.fail(f"reference audio missing: {audio}")
    return audio


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return reference_audio()


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
