"""End-to-end moderation time for long generated videos: validation + single decode pass + NudeNet + policy.

    .venv/bin/python bench/moderator_e2e.py [--minutes 10 60] [--runs 3] [--long-runs 1]

Inputs are generated in a temporary directory (never in the repo): a 640x360, 5 fps H.264 slideshow of
scikit-image photographs changing every 17 s, over 44.1 kHz stereo AAC speech looped from the shared AMI
recording, the shape of a screen-recorded meeting. Writes bench/results/moderator_e2e.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data

from vidpipe.testing import reference_audio_dir
from vidpipe_moderator.engine import load_moderator
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_moderator.testmedia import colour_bars, write_slideshow

SPEECH = reference_audio_dir() / "ami-mixture.wav"
RESULTS = Path(__file__).parent / "results" / "moderator_e2e.json"
SECONDS_PER_PHOTO = 17  # not a multiple of the 5 s grid, so cuts fall between periodic frames
FPS = 5
SIZE = (640, 360)


def photos() -> list[np.ndarray]:
    grey = skimage.data.camera()
    return [
        skimage.data.astronaut(),
        skimage.data.coffee(),
        skimage.data.rocket(),
        skimage.data.chelsea(),
        colour_bars(*SIZE),
        np.repeat(grey[:, :, None], 3, axis=2),
    ]


def generate(directory: Path, minutes: int) -> tuple[Path, float]:
    pictures = photos()
    count = -(-minutes * 60 // SECONDS_PER_PHOTO)
    started = time.perf_counter()
    path = write_slideshow(
        directory / f"meeting-{minutes}min.mp4",
        [pictures[i % len(pictures)] for i in range(count)],
        seconds_per_image=SECONDS_PER_PHOTO,
        fps=FPS,
        size=SIZE,
        audio=SPEECH,
        loop_audio=True,
        total_seconds=minutes * 60,
    )
    return path, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--runs", type=int, default=3, help="runs per video up to 30 min")
    parser.add_argument("--long-runs", type=int, default=1, help="runs per video over 30 min (slow here)")
    args = parser.parse_args()

    settings = ModeratorSettings(
        onnx_providers=["CPUExecutionProvider"], policy_json=None, sample_interval_s=5.0, max_frames=600
    )
    load_started = time.perf_counter()
    moderator = load_moderator(settings)
    load_s = time.perf_counter() - load_started
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), load avg {os.getloadavg()[0]:.1f}",
        "detector": moderator.detector.description,
        "model_load_s": round(load_s, 3),
        "settings": {"sample_interval_s": 5.0, "max_frames": 600, "inference_resolution": 320, "batch_size": 1},
        "videos": {},
    }
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
        for minutes in args.minutes:
            video, generate_s = generate(Path(tmp), minutes)
            runs = args.runs if minutes <= 30 else args.long_runs
            reports = []
            for run in range(runs):
                audio_out = Path(tmp) / f"audio-{minutes}-{run}.flac"
                reports.append(moderator.moderate(video, audio_out=audio_out))
                timing = reports[-1].timings
                print(
                    f"{minutes} min run {run + 1}/{runs}: total {timing.total_s:.1f} s "
                    f"(decode {timing.decode_s:.1f} s, detect {timing.detect_s:.1f} s, "
                    f"{reports[-1].frames_scanned} frames), load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            last = reports[-1]
            totals = [r.timings.total_s for r in reports]
            decodes = [r.timings.decode_s for r in reports]
            detects = [r.timings.detect_s for r in reports]
            median_total = statistics.median(totals)
            # Shares from the sums over runs: medians of separate lists need not add up to the median total.
            decode_share = sum(decodes) / sum(totals)
            detect_share = sum(detects) / sum(totals)
            results["videos"][f"{minutes}min"] = {  # type: ignore[index]
                "input": f"{SIZE[0]}x{SIZE[1]} {FPS} fps H.264 + 44.1 kHz stereo AAC, "
                f"{video.stat().st_size / 1e6:.1f} MB, generated in {generate_s:.0f} s",
                "runs": runs,
                "total_s": totals,
                "median_total_s": round(median_total, 2),
                "median_decode_s": round(statistics.median(decodes), 2),
                "median_detect_s": round(statistics.median(detects), 2),
                "decode_s": decodes,
                "detect_s": detects,
                "decode_share": round(decode_share, 3),
                "detect_share": round(detect_share, 3),
                "frames_scanned": last.frames_scanned,
                "scene_cuts_found": len(last.scene_cuts_s),
                "detection_fps": round(last.frames_scanned / statistics.median(detects), 1),
                "realtime_factor": round(minutes * 60 / median_total, 1),
                "verdict": last.verdict,
                "audio_duration_s": last.audio.duration_s if last.audio else None,
            }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
