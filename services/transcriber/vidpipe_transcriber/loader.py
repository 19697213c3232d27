"""Engine selection: the one place that knows both engines.

Each engine module is imported only when it is chosen, so a CPU worker never imports whisperx and the GPU
image never loads the CAM++ diarizer. Nothing imports this module but the composition code (handler, CLI,
benchmarks, tests), so it closes no import cycle.
"""

from __future__ import annotations

from vidpipe_transcriber.engine import TranscriptionEngine
from vidpipe_transcriber.settings import TranscriberSettings


def load_engine(settings: TranscriberSettings) -> TranscriptionEngine:
    """Load the engine the settings name, with all its models (seconds to minutes: call once per process)."""
    if settings.engine == "whisperx":
        from vidpipe_transcriber.whisperx_engine import load_whisperx_engine

        return load_whisperx_engine(settings)
    from vidpipe_transcriber.local_engine import load_local_engine

    return load_local_engine(settings)
