"""Real media for the moderator tests, encoded with PyAV once per session (videos are never checked in).

The photographs are scikit-image's bundled samples: `astronaut` (NudeNet: FACE_FEMALE), `coffee`, `rocket`,
`chelsea`; plus a colour-bar test pattern. The speech is the repository's tests/data/audio/jfk.flac (11 s).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from vidpipe.testing import shipped_audio
from vidpipe_moderator.engine import Moderator, load_moderator
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

SECONDS_PER_PHOTO = 3.0
FPS = 10


@pytest.fixture(scope="session")
def speech() -> Path:
    return shipped_audio("jfk.flac")


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """astronaut (a face), coffee, rocket, colour bars: 3 s each in the clean video, so cuts at 3, 6, 9 s."""
    return [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket(), colour_bars(640, 360)]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("moderator-media")


@pytest.fixture(scope="session")
def clean_video(media_dir: Path, photos: list[np.ndarray], speech: Path) -> Path:
    """12 s H.264/AAC 640x360, index (moov) at the end as encoders write it; audio 11 s, 44.1 kHz stereo."""
    return write_slideshow(media_dir / "clean.mp4", photos, seconds_per_image=SECONDS_PER_PHOTO, fps=FPS, audio=speech)


@pytest.fixture(scope="session")
def faststart_video(media_dir: Path, photos: list[np.ndarray], speech: Path) -> Path:
    return write_slideshow(
        media_dir / "faststart.mp4",
        photos,
        seconds_per_image=SECONDS_PER_PHOTO,
        fps=FPS,
        audio=speech,
        faststart=True,
    )


@pytest.fixture(scope="session")
def settings() -> ModeratorSettings:
    # Explicit values, not the environment, so a developer's MODERATOR_* variables cannot change test
    # outcomes.
    return ModeratorSettings(
        sample_interval_s=5.0, max_frames=600, policy_json=None, onnx_providers=["CPUExecutionProvider"]
    )


@pytest.fixture(scope="session")
def moderator(settings: ModeratorSettings) -> Moderator:
    return load_moderator(settings)


@pytest.fixture(scope="session")
def moderator_with(moderator: Moderator) -> Callable[..., Moderator]:
    """The session's detector with other settings or policy: the model loads once for the whole session."""
    from vidpipe_moderator.policy import load_policy

    def build(**overrides: object) -> Moderator:
        settings = moderator.settings.model_copy(update=overrides)
        return Moderator(moderator.detector, load_policy(settings.policy_json), settings)

    return build
