"""NudeNet detection throughput (frames per second) on real decoded video frames, per batch size and resolution.

    .venv/bin/python bench/moderator_detector.py [--frames 40] [--repeats 3]

Frames are the 320x180 samples the engine hands the detector, decoded from a generated slideshow of
scikit-image photographs. Each configuration is timed `--repeats` times; the JSON holds the median.
Writes bench/results/moderator_detector.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import skimage.data

from vidpipe.testing import reference_audio_dir
from vidpipe_moderator.detector import load_detector
from vidpipe_moderator.media import scan_media
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

SPEECH = reference_audio_dir() / "jfk.wav"
RESULTS = Path(__file__).parent / "results" / "moderator_detector.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    base = ModeratorSettings(onnx_providers=["CPUExecutionProvider"], policy_json=None, sample_interval_s=0.25)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket(), colour_bars(640, 360)]
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
        video = write_slideshow(Path(tmp) / "frames.mp4", photos, seconds_per_image=3, fps=10, audio=SPEECH)
        frames = [f.image for f in scan_media(video, base).frames][: args.frames]

    configurations = [
        {"inference_resolution": 320, "batch_size": 1, "onnx_spin_wait": False},
        {"inference_resolution": 320, "batch_size": 4, "onnx_spin_wait": False},
        {"inference_resolution": 320, "batch_size": 8, "onnx_spin_wait": False},
        {"inference_resolution": 320, "batch_size": 1, "onnx_spin_wait": True},
        {"inference_resolution": 640, "batch_size": 1, "onnx_spin_wait": False},
    ]
    rows = []
    for configuration in configurations:
        detector = load_detector(base.model_copy(update=configuration))
        detector.detect(frames[:2])  # warm-up: first run allocates
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            detector.detect(frames)
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        row = {
            **configuration,
            "frames": len(frames),
            "median_s": round(median, 3),
            "fps": round(len(frames) / median, 1),
            "ms_per_frame": round(1000 * median / len(frames), 1),
            "load_avg": round(os.getloadavg()[0], 1),
        }
        rows.append(row)
        print(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": f"{os.cpu_count()} CPUs (shared)", "frame_size": "320x180", "rows": rows}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
