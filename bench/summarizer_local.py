"""Benchmark the summarizer's local engine: llama-server + the local default GGUF on a 10-minute transcript.

Each run starts a fresh llama-server (load time), summarises ten AMI minutes back to back (600 s: chapters,
map-reduce) with the prompt cache off, and reads llama-server's own `timings` for prompt and generation speed
and /proc VmHWM for the server's peak RSS. Medians of --runs runs go to bench/results/summarizer_local.json.

    .venv/bin/python bench/summarizer_local.py [--runs 3] [--threads 1] [--model NAME] [--minutes 10]

Needs `python -m vidpipe_summarizer.build` first; the transcript is built from the AMI reference texts
(no ASR), as in the summarizer tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def ami_transcript_json(minutes: int) -> bytes:
    # The same builder the tests use (AMI reference texts spread over the RTTM turns), repeated.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "summarizer_test_conftest", REPO / "services" / "summarizer" / "tests" / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return bytes(module.transcribe_json(minutes))


def one_run(args: argparse.Namespace, transcript_json: bytes) -> dict[str, Any]:
    from vidpipe_summarizer.engine import SummarizerEngine, load_local_backend
    from vidpipe_summarizer.llama_server import LocalLlamaBackend
    from vidpipe_summarizer.settings import SummarizerSettings
    from vidpipe_summarizer.transcript import decode_transcript

    settings = SummarizerSettings(
        engine="local",
        local_model=args.model,
        local_threads=args.threads,
        local_context_tokens=args.context,
    )
    started = time.monotonic()
    backend = load_local_backend(settings, extra_body={"cache_prompt": False})
    assert isinstance(backend, LocalLlamaBackend)
    load_s = time.monotonic() - started
    engine = SummarizerEngine(backend, settings)
    try:
        transcript = decode_transcript(transcript_json)
        loadavg_before = os.getloadavg()[0]
        job_started = time.monotonic()
        summary = engine.summarize(transcript)
        wall_s = time.monotonic() - job_started
        rss = backend.server.peak_rss_bytes()
    finally:
        engine.close()
    timings = [c.timings or {} for c in engine.completions]
    prompt_n = sum(t.get("prompt_n", 0) for t in timings)
    prompt_ms = sum(t.get("prompt_ms", 0) for t in timings)
    predicted_n = sum(t.get("predicted_n", 0) for t in timings)
    predicted_ms = sum(t.get("predicted_ms", 0) for t in timings)
    return {
        "load_s": round(load_s, 2),
        "server_health_s": round(backend.server.load_seconds, 2),
        "wall_s": round(wall_s, 1),
        "wall_s_per_10_min": round(wall_s * 600 / transcript.span, 1),
        "llm_calls": len(engine.completions),
        "chunks": summary.chunk_count,
        "chapters": len(summary.chapters),
        "prompt_tokens": int(prompt_n),
        "generated_tokens": int(predicted_n),
        "prompt_tokens_per_s": round(prompt_n / (prompt_ms / 1000), 1) if prompt_ms else None,
        "generated_tokens_per_s": round(predicted_n / (predicted_ms / 1000), 1) if predicted_ms else None,
        "server_peak_rss_mib": round(rss / 2**20) if rss else None,
        "loadavg_1m_at_start": round(loadavg_before, 2),
        "title": summary.title,
        "summary": summary.summary,
        "keywords": summary.keywords,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--model", default="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "summarizer_local.json")
    args = parser.parse_args()

    transcript_json = ami_transcript_json(args.minutes)
    runs = []
    for index in range(args.runs):
        run = one_run(args, transcript_json)
        print(f"run {index + 1}/{args.runs}: {json.dumps({k: v for k, v in run.items() if k != 'summary'})}")
        runs.append(run)

    numeric = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    medians = {k: statistics.median(r[k] for r in runs if r[k] is not None) for k in numeric}
    result = {
        "benchmark": "summarizer_local",
        "model": args.model,
        "threads": args.threads,
        "context_tokens": args.context,
        "transcript_minutes": args.minutes,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "median": medians,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"median": medians}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
