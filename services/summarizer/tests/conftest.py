"""Fixtures for the summarizer tests: AMI-based transcripts in `vidpipe transcribe` JSON, and llama-server.

The AMI transcript is built from the per-speaker reference texts and the RTTM of the 60 s AMI mixture (no
ASR): each speaker's words are spread over that speaker's RTTM turns in proportion to their lengths.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vidpipe.testing import shipped_audio

# Reference-text letter -> RTTM speaker, matched by who holds the long turns (D opens and speaks at 30 s,
# A holds the 22 s turn from 7.4 s, B the last 15 s, C only says "Mm. Yeah.").
_LETTER_OF_RTTM_SPEAKER = {"FEE016": "D", "FEE013": "A", "MEO015": "B", "MEE014": "C"}


def _ami_segments(offset: float = 0.0) -> list[dict[str, Any]]:
    turns: list[tuple[float, float, str]] = []
    for line in shipped_audio("ami-mixture.rttm").read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        turns.append((start, start + duration, fields[7]))
    labels = {spk: f"SPEAKER_{i:02d}" for i, spk in enumerate(dict.fromkeys(s for _, _, s in turns))}
    segments: list[dict[str, Any]] = []
    for rttm_speaker, letter in _LETTER_OF_RTTM_SPEAKER.items():
        words = shipped_audio(f"ami-mixture.{letter}.txt").read_text().split()
        own = [t for t in turns if t[2] == rttm_speaker]
        total = sum(end - start for start, end, _ in own)
        taken = 0
        for index, (start, end, _) in enumerate(own):
            count = len(words) - taken if index == len(own) - 1 else round(len(words) * (end - start) / total)
            chunk, taken = words[taken : taken + count], taken + count
            if not chunk:
                continue
            step = (end - start) / len(chunk)
            word_items = [
                {
                    "start": round(offset + start + i * step, 3),
                    "end": round(offset + start + (i + 1) * step, 3),
                    "word": f" {w}",
                    "probability": 0.9,
                    "speaker": labels[rttm_speaker],
                }
                for i, w in enumerate(chunk)
            ]
            segments.append(
                {
                    "start": round(offset + start, 3),
                    "end": round(offset + end, 3),
                    "speaker": labels[rttm_speaker],
                    "text": " ".join(chunk),
                    "words": word_items,
                }
            )
    return sorted(segments, key=lambda s: s["start"])


def transcribe_json(repeats: int = 1) -> bytes:
    """A transcript exactly as `vidpipe transcribe` prints it: the AMI minute, `repeats` times in a row."""
    segments = [seg for r in range(repeats) for seg in _ami_segments(offset=60.0 * r)]
    words = [w for seg in segments for w in seg["words"]]
    speakers = sorted({seg["speaker"] for seg in segments})
    document = {
        "language": "en",
        "language_probability": 0.99,
        "duration": 60.0 * repeats,
        "engine": "local",
        "model": "whisper-base",
        "segments": segments,
        "words": words,
        "speakers": speakers,
    }
    return msgspec.json.encode(document)


@pytest.fixture(scope="session")
def ami_json() -> Callable[[int], bytes]:
    """`ami_json(n)`: the AMI minute `n` times over, as `vidpipe transcribe` JSON."""
    return transcribe_json


@pytest.fixture(scope="session")
def ami_json_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("summarizer") / "ami.json"
    path.write_bytes(transcribe_json())
    return path


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """The built llama-server; a missing binary skips locally but fails in CI, so CI can never skip."""
    from vidpipe_summarizer.settings import SummarizerSettings

    binary = SummarizerSettings().llama_server_binary
    if not binary.is_file():
        reason = (
            f"llama-server not built at {binary}: run `python -m vidpipe_summarizer.build server` "
            "(or set SUMMARIZER_LLAMA_SERVER_BINARY)"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason + " — CI must build it before the tests")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def smollm2_engine(llama_server_binary: Path) -> Iterator[Any]:
    """SummarizerEngine on SmolLM2-135M with a 2048-token context: AMI fits, 4 AMI minutes do not."""
    from vidpipe_summarizer.build import SMOLLM2_135M
    from vidpipe_summarizer.engine import load_engine
    from vidpipe_summarizer.settings import SummarizerSettings

    settings = SummarizerSettings(
        engine="local",
        local_model=SMOLLM2_135M.name,
        llama_server_binary=llama_server_binary,
        local_context_tokens=2048,
    )
    with load_engine(settings) as engine:
        yield engine
