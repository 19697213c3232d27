"""Transcriber benchmark: speed (×real time), peak RSS, WER/cpWER and DER of the local engine on CPU.

    .venv/bin/python bench/transcriber_bench.py [--model base] [--runs 3] [--files jfk,pyannote-sample,...]

Each file is measured in its own subprocess so peak RSS (ru_maxrss) belongs to that file alone. Per run the
full pipeline (decode → VAD → ASR → diarization → assignment) is timed once; "ASR alone" is the wall time
until the engine reports that diarization starts (it includes decoding and VAD), "ASR + diarization" the
whole call. Model loading is excluded and reported separately. Medians of `--runs` runs.
`concat-10min` is built at bench time from the shared AMI and pyannote clips (alternating, 1 s gaps) with a
reference RTTM shifted to match, so DER also checks that speakers stay consistent across a longer file.
Writes bench/results/transcriber.json (one entry per model).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from vidpipe.testing import reference_audio_dir

REPO = Path(__file__).resolve().parents[1]
AUDIO = reference_audio_dir()
RESULTS = REPO / "bench" / "results" / "transcriber.json"
FILES = ["jfk", "pyannote-sample", "ami-mixture", "concat-10min"]
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def build_concat(directory: Path, target_seconds: float = 600.0) -> tuple[Path, Path]:
    """Alternate AMI and the pyannote sample (1 s of silence between) up to `target_seconds`."""
    from vidpipe_transcriber.audio import SAMPLE_RATE, decode_audio
    from vidpipe_transcriber.evaluation import read_rttm

    sources = [(name, decode_audio(AUDIO / f"{name}.wav")) for name in ("ami-mixture", "pyannote-sample")]
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    pieces: list[np.ndarray] = []
    rttm_lines: list[str] = []
    offset = 0.0
    i = 0
    while offset < target_seconds:
        name, samples = sources[i % 2]
        for turn in read_rttm(AUDIO / f"{name}.rttm"):
            if turn.start + offset < target_seconds:
                end = min(turn.end + offset, target_seconds)
                rttm_lines.append(
                    f"SPEAKER concat 1 {turn.start + offset:.3f} {end - turn.start - offset:.3f} "
                    f"<NA> <NA> {turn.speaker} <NA> <NA>"
                )
        pieces += [samples, gap]
        offset += samples.shape[0] / SAMPLE_RATE + 1.0
        i += 1
    audio = np.concatenate(pieces)[: int(target_seconds * SAMPLE_RATE)]
    wav_path = directory / "concat-10min.wav"
    with wave.open(str(wav_path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    rttm_path = directory / "concat-10min.rttm"
    rttm_path.write_text("\n".join(rttm_lines) + "\n")
    return wav_path, rttm_path


def measure_one(name: str, model: str, runs: int, workdir: Path) -> dict[str, object]:
    """Runs inside the per-file subprocess."""
    from vidpipe_transcriber.audio import decode_audio
    from vidpipe_transcriber.engine import run
    from vidpipe_transcriber.evaluation import cp_wer, diarization_error_rate, read_rttm, wer, words_by_speaker
    from vidpipe_transcriber.loader import load_engine
    from vidpipe_transcriber.models import TranscribeOptions
    from vidpipe_transcriber.settings import TranscriberSettings

    # No word reference for the concatenation: the pyannote sample has none, so only DER is scored there.
    references: dict[str, str] = {}
    directory = workdir if name == "concat-10min" else AUDIO
    path, rttm = directory / f"{name}.wav", directory / f"{name}.rttm"
    if name == "ami-mixture":
        references = {k: (AUDIO / f"ami-mixture.{k}.txt").read_text() for k in "ABCD"}
    duration = decode_audio(path).shape[0] / 16_000

    started = time.perf_counter()
    engine = load_engine(TranscriberSettings(model=model))
    load_seconds = time.perf_counter() - started
    options = TranscribeOptions(language="en" if model.endswith(".en") else None)

    asr_times, total_times = [], []
    transcript = None
    for _ in range(runs):
        marks: dict[str, float] = {}

        def progress(fraction: float, detail: str, marks: dict[str, float] = marks) -> None:
            if detail == "diarizing":
                marks.setdefault("asr_done", time.perf_counter())

        begin = time.perf_counter()
        transcript = run(engine, path, options, progress)
        end = time.perf_counter()
        total_times.append(end - begin)
        asr_times.append(marks.get("asr_done", end) - begin)
    assert transcript is not None

    result: dict[str, object] = {
        "file": name,
        "model": model,
        "audio_seconds": round(duration, 2),
        "load_seconds": round(load_seconds, 2),
        "asr_seconds_median": round(statistics.median(asr_times), 2),
        "total_seconds_median": round(statistics.median(total_times), 2),
        "asr_seconds_runs": [round(t, 2) for t in asr_times],
        "total_seconds_runs": [round(t, 2) for t in total_times],
        "rtf_asr": round(duration / statistics.median(asr_times), 2),
        "rtf_asr_diarization": round(duration / statistics.median(total_times), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "language": transcript.language,
        "speakers_found": len(transcript.speakers),
    }
    if name == "jfk":
        result["wer"] = round(wer(JFK_TEXT, transcript.text), 4)
    if references:
        score, _ = cp_wer(references, words_by_speaker(transcript))
        score_nf, _ = cp_wer(references, words_by_speaker(transcript), drop_fillers=True)
        result["cpwer"] = round(score, 4)
        result["cpwer_no_fillers"] = round(score_nf, 4)
    if rttm.is_file():
        reference = read_rttm(rttm)
        result["der_collar_0.25"] = round(diarization_error_rate(reference, transcript.turns, collar=0.5), 4)
        result["der_no_collar"] = round(diarization_error_rate(reference, transcript.turns, collar=0.0), 4)
        result["reference_speakers"] = len({t.speaker for t in reference})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", default=",".join(FILES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(measure_one(args.one, args.model, args.runs, Path(args.workdir))))
        return

    workdir = Path(tempfile.mkdtemp(prefix="transcriber-bench-"))
    names = args.files.split(",")
    if "concat-10min" in names:
        # Built here, not in the measured child, so its buffers do not count towards that child's peak RSS.
        build_concat(workdir)
    results = []
    for name in names:
        load_before = os.getloadavg()[0]
        child = subprocess.run(
            [
                *(sys.executable, __file__, "--one", name, "--model", args.model),
                *("--runs", str(args.runs), "--workdir", str(workdir)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(child.stdout.strip().splitlines()[-1])
        row["loadavg_1min_before"] = round(load_before, 2)
        row["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
        results.append(row)
        print(json.dumps(row), flush=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "transcriber local engine (faster-whisper batched int8 + silero/CAM++/NME-SC)",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "runs_per_file": args.runs,
        "results": results,
    }
    if RESULTS.exists():
        previous = json.loads(RESULTS.read_text())
        by_model = previous.get("by_model", {}) if isinstance(previous, dict) else {}
    else:
        by_model = {}
    by_model[args.model] = payload
    RESULTS.write_text(json.dumps({"by_model": by_model}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
