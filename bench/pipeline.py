"""End to end on the embedded stack: a meeting video through `vidpipe process`, stage by stage, with the plain
model calls beside it so our overhead is a ratio.

    .venv/bin/python bench/pipeline.py [--runs 3] [--lengths 72,600] [--skip-baselines]

For each length (seconds; 72 and 600 by default, 3600 on request) it makes a meeting video from the shipped
speech (AMI's several voices, JFK, the two-voice pyannote sample, in turns, over a still H.264 frame), starts
one embedded stack (the default models: Whisper base, the default summarizer model), runs `vidpipe process
--json` --runs times, each on a different meeting (the pieces in another order: a repeated transcript would
let llama-server reuse the whole previous prompt from its cache, which no real job gets), and reads the
task's events from Postgres: queue wait and wall per stage, total and x realtime. Peak RSS (VmHWM) per
worker and of its llama-server children is read before the stack stops.
Beside it, in the same run and on the same audio: a plain faster-whisper BatchedInferencePipeline call (ASR
only, model loaded, same beam and batch); a plain llama-server request with the same prompt the summarizer
sends, from a fresh server with the system prompt cached as the worker has it (start time apart); and the
one-shot `vidpipe summarize` twice: with no saved prompt state (first run on a machine) and restoring it.
Each length's medians go to bench/results/pipeline.json (other lengths already there are kept) with the
load average before and after; the machine is shared, so compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
STAGES = ("moderate", "transcribe", "summarize")
RATE = 16_000
GAP_S = 0.5
# Meeting material, in order: AMI's first 30 s (several speakers), JFK (11 s), the two-voice pyannote sample.
_PIECES = (
    ("ami-mixture.wav", 0.0, 30.0),
    ("jfk.wav", 0.0, 11.0),
    ("pyannote-sample.wav", 0.0, 30.0),
    ("ami-mixture.wav", 30.0, 60.0),
)


def audio_dir() -> Path:
    for candidate in (REPO.parent / "shared" / "data" / "audio", REPO / "tests" / "data" / "audio"):
        if (candidate / "jfk.wav").is_file():
            return candidate
    raise FileNotFoundError("reference audio not found beside the checkout (../shared/data/audio)")


def _read(name: str) -> npt.NDArray[np.int16]:
    with wave.open(str(audio_dir() / name)) as wav:
        assert wav.getframerate() == RATE and wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def meeting_samples(seconds: float, variant: int = 0) -> npt.NDArray[np.int16]:
    """`seconds` of several voices taking turns: the shipped recordings in a cycle with short pauses, the
    cycle starting at piece `variant` (so each variant's transcript differs from its first line)."""
    cache: dict[str, npt.NDArray[np.int16]] = {}
    gap = np.zeros(int(GAP_S * RATE), dtype=np.int16)
    parts: list[npt.NDArray[np.int16]] = []
    total, target = 0, int(seconds * RATE)
    shift = variant % len(_PIECES)
    cycle = _PIECES[shift:] + _PIECES[:shift]
    while total < target:
        for name, start, end in cycle:
            samples = cache.setdefault(name, _read(name))[int(start * RATE) : int(end * RATE)]
            parts += [samples, gap]
            total += len(samples) + len(gap)
    return np.concatenate(parts)[:target]


def make_meeting_wav(seconds: float, target: Path, variant: int = 0) -> Path:
    with wave.open(str(target), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(meeting_samples(seconds, variant).tobytes())
    return target


def make_meeting_video(seconds: float, target: Path, fps: int = 2, variant: int = 0) -> Path:
    """An MP4 (H.264 + AAC) of the meeting audio over a still card: what a user uploads."""
    import av

    samples = meeting_samples(seconds, variant)
    card = np.full((240, 320, 3), (24, 38, 64), dtype=np.uint8)
    with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "35", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        audio.bit_rate = 48_000
        for index in range(int(seconds * fps) + 1):
            frame = av.VideoFrame.from_ndarray(card, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        chunk = 1024
        for start in range(0, len(samples), chunk):
            sound = av.AudioFrame.from_ndarray(
                samples[start : start + chunk].reshape(1, -1), format="s16", layout="mono"
            )
            sound.sample_rate = RATE
            sound.pts = start
            container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return target


# ---------------------------------------------------------------------------------------------- the stack


def stage_times(database_url: str, task_id: uuid.UUID) -> dict[str, dict[str, float]]:
    """Per stage: queue wait (queued -> started) and wall (started -> completed), from the task's events."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT stage::text, kind::text, created_at FROM task_events WHERE task_id = %s ORDER BY id", (task_id,)
        ).fetchall()
    first: dict[tuple[str, str], Any] = {}
    last: dict[tuple[str, str], Any] = {}
    for stage, kind, at in rows:
        first.setdefault((stage, kind), at)
        last[(stage, kind)] = at
    times: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        queued, started, done = (
            first.get((stage, "queued")),
            last.get((stage, "started")),
            last.get((stage, "completed")),
        )
        if started is None or done is None:
            continue
        times[stage] = {
            "queue_wait_s": round((started - queued).total_seconds(), 2) if queued else 0.0,
            "wall_s": round((done - started).total_seconds(), 2),
        }
    return times


def peak_rss_mib(stack: Any) -> dict[str, int]:
    """VmHWM of each worker (and, as `<worker>+children`, of its child processes: the llama-servers)."""
    found: dict[str, int] = {}
    for child in stack.supervisor.children if stack.supervisor else []:
        if not child.pid:
            continue
        found[child.name] = _hwm(child.pid) // 2**20
        kids = (
            [int(p) for p in Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()]
            if Path(f"/proc/{child.pid}/task/{child.pid}/children").exists()
            else []
        )
        if kids:
            found[f"{child.name}+children"] = sum(_hwm(k) for k in kids) // 2**20
    return found


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_process(stack: Any, token: str, video: Path) -> dict[str, Any]:
    env = {**os.environ, "VIDPIPE_GATEWAY_URL": stack.gateway_url, "VIDPIPE_TOKEN": token, "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "process", "--json", str(video)],
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    total = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"vidpipe process failed ({done.returncode}): {done.stderr[-2000:]}")
    match = re.search(r"task ([0-9a-f-]{36})", done.stderr)
    assert match, done.stderr[-500:]
    media = json.loads(done.stdout)
    summary = media.get("summary") or {}
    return {
        "task_id": match.group(1),
        "total_s": round(total, 2),
        "keywords": summary.get("keywords"),
        "summary": summary.get("summary"),
    }


def bench_stack(videos: dict[int, list[Path]], state_dir: Path) -> dict[int, list[dict[str, Any]]]:
    sys.path.insert(0, str(REPO))
    from tests.chaos.campaign import environment

    from vidpipe.devstack import DevStack
    from vidpipe.settings import AuthSettings
    from vidpipe.tokens import mint_local_token

    results: dict[int, list[dict[str, Any]]] = {seconds: [] for seconds in videos}
    with environment({"VIDPIPE_LOG_FORMAT": "json"}):
        stack = DevStack(state_dir=state_dir, echo=False, durable=False)
        stack.start()
    try:
        token = mint_local_token(AuthSettings(jwt_secret=stack.env["AUTH_JWT_SECRET"]), "bench")
        for seconds, variants in videos.items():
            for index, video in enumerate(variants):
                load_before = os.getloadavg()[0]
                run = run_process(stack, token, video)
                run["stages"] = stage_times(stack.env["DB_URL"], uuid.UUID(run["task_id"]))
                if index == 0:
                    run["transcript_json"] = transcript_of(stack.env["DB_URL"], run["task_id"]).decode()
                run["x_realtime"] = round(seconds / run["total_s"], 2)
                run["load1_before"] = round(load_before, 2)
                run["load1_after"] = round(os.getloadavg()[0], 2)
                shown = {key: value for key, value in run.items() if key != "transcript_json"}  # kept for the baselines
                print(f"  {seconds:>5} s run {index + 1}: {json.dumps(shown)}", file=sys.stderr, flush=True)
                results[seconds].append(run)
        for seconds in videos:
            for run in results[seconds]:
                run["peak_rss_mib"] = peak_rss_mib(stack)
    finally:
        stack.stop()
    return results


# ----------------------------------------------------------------------------------------- the baselines


def plain_asr(wav: Path) -> dict[str, float]:
    """faster-whisper alone, as its README calls it, with our model, beam and batch: ASR only, model loaded."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.audio import decode_audio

    from vidpipe_transcriber.settings import TranscriberSettings
    from vidpipe_transcriber.weights import resolve_whisper_model

    settings = TranscriberSettings()
    started = time.monotonic()
    model = WhisperModel(
        str(resolve_whisper_model(settings.resolved_model(), settings.model_cache_dir)),
        device="cpu",
        compute_type=settings.resolved_compute_type(),
        cpu_threads=settings.cpu_threads,
        local_files_only=True,
    )
    load_s = time.monotonic() - started
    audio = decode_audio(str(wav))
    started = time.monotonic()
    segments, _info = BatchedInferencePipeline(model=model).transcribe(
        audio, language="en", batch_size=settings.batch_size, beam_size=settings.beam_size, word_timestamps=True
    )
    list(segments)
    return {"asr_s": round(time.monotonic() - started, 2), "load_s": round(load_s, 2)}


def plain_llama(transcript_json: bytes) -> dict[str, float]:
    """One request to a fresh llama-server (the summarizer's model, threads and request), timed apart from
    its start: what the summarize stage costs at least."""
    import httpx

    from vidpipe_summarizer.engine import SummarizerEngine, load_local_backend
    from vidpipe_summarizer.llama_server import LocalLlamaBackend
    from vidpipe_summarizer.prompts import SYSTEM_PROMPT, chat, whole_transcript_prompt
    from vidpipe_summarizer.schema import LlmSummary, json_schema_for
    from vidpipe_summarizer.settings import SummarizerSettings
    from vidpipe_summarizer.transcript import decode_transcript, speaker_turns

    settings = SummarizerSettings(engine="local")
    transcript = decode_transcript(transcript_json)
    lines = speaker_turns(transcript)
    prompt = whole_transcript_prompt(lines, duration=transcript.span, language=transcript.known_language)
    started = time.monotonic()
    backend = load_local_backend(settings)
    start_s = time.monotonic() - started
    assert isinstance(backend, LocalLlamaBackend)
    engine = SummarizerEngine(backend, settings)
    try:
        # The system prompt cached, as the warm worker has it: what is timed is the job's own part.
        backend.warm(SYSTEM_PROMPT, every_server=False)
        schema = json_schema_for(LlmSummary, language=transcript.known_language)  # as the engine sends it
        body = {
            "messages": chat(prompt),
            "temperature": 0,
            "max_tokens": engine._max_tokens[LlmSummary],
            "repeat_penalty": settings.local_repeat_penalty,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "LlmSummary", "strict": True, "schema": schema},
            },
        }
        server = backend.server
        started = time.monotonic()
        reply = httpx.post(f"{server.base_url}/v1/chat/completions", json=body, timeout=1800).json()
        wall = time.monotonic() - started
    finally:
        engine.close()
    timings = reply.get("timings", {})
    return {
        "request_s": round(wall, 2),
        "server_start_s": round(start_s, 2),
        "threads": server.threads,
        "prompt_tokens": timings.get("prompt_n", 0) + timings.get("cache_n", 0),
        "prompt_tokens_read": timings.get("prompt_n", 0),
        "generated_tokens": timings.get("predicted_n", 0),
    }


def summarize_cli(transcript_json: bytes, workdir: Path, state_dir: Path) -> dict[str, Any]:
    """`vidpipe summarize` one-shot on the same transcript, server start included, with its prompt state in
    `state_dir` (empty: the first run on a machine, which reads the system prompt and saves it)."""
    path = workdir / "transcript.json"
    path.write_bytes(transcript_json)
    env = {**os.environ, "SUMMARIZER_LOCAL_PROMPT_STATE_DIR": str(state_dir)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vidpipe.cli", "summarize", "--quiet", str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-1500:])
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 2), "keywords": summary["keywords"], "summary": summary["summary"]}


def transcript_of(database_url: str, task_id: str) -> bytes:
    """The stored transcript of a bench task, as the summarizer reads it."""
    import asyncio

    import msgspec
    import psycopg
    from psycopg.rows import dict_row

    from vidpipe.transcript import read_transcript

    async def read() -> bytes:
        async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as conn:
            row = await (await conn.execute("SELECT id FROM transcripts WHERE task_id = %s", (task_id,))).fetchone()
            assert row, "no transcript stored"
            transcript = await read_transcript(conn, row["id"])
            assert transcript is not None
            return msgspec.json.encode(transcript)

    return asyncio.run(read())


def baseline_row(row: dict[str, Any], transcript_json: str | None, work: Path) -> dict[str, Any]:
    """The plain calls beside one length's stack runs (on its first run's meeting); a failing baseline is
    recorded, not fatal."""
    seconds = row["audio_s"]
    found: dict[str, Any] = {}
    try:
        found["asr"] = asr = plain_asr(make_meeting_wav(seconds, work / f"meeting-{seconds}s.wav"))
        row["plain_asr_s"] = asr["asr_s"]
        row["asr_overhead"] = round(row["transcribe_s"] / asr["asr_s"], 2)
    except Exception as exc:
        found["asr_error"] = repr(exc)
    if not transcript_json:
        return found
    try:
        found["llm"] = llm = plain_llama(transcript_json.encode())
        row["plain_llm_s"] = llm["request_s"]
        row["summarize_overhead"] = round(row["summarize_s"] / llm["request_s"], 2)
    except Exception as exc:
        found["llm_error"] = repr(exc)
    if seconds <= 120:
        try:
            state = work / "prompt-state"
            found["summarize_cli_first"] = first = summarize_cli(transcript_json.encode(), work, state)
            found["summarize_cli"] = cli = summarize_cli(transcript_json.encode(), work, state)
            row["summarize_cli_first_s"] = first["wall_s"]
            row["summarize_cli_s"] = cli["wall_s"]
        except Exception as exc:
            found["summarize_cli_error"] = repr(exc)
    return found


# ----------------------------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def summarise(seconds: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"audio_s": seconds, "runs": len(runs), "total_s": median([r["total_s"] for r in runs])}
    row["x_realtime"] = round(seconds / row["total_s"], 2)
    for stage in STAGES:
        row[f"{stage}_s"] = median([r["stages"][stage]["wall_s"] for r in runs if stage in r["stages"]])
        row[f"{stage}_queue_s"] = median([r["stages"][stage]["queue_wait_s"] for r in runs if stage in r["stages"]])
    row["transcribe_x_realtime"] = round(seconds / row["transcribe_s"], 2)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["audio_s", "total_s", "x_realtime", "moderate_s", "transcribe_s", "transcribe_x_realtime",
               "summarize_s", "moderate_queue_s", "transcribe_queue_s", "summarize_queue_s",
               "plain_asr_s", "asr_overhead", "plain_llm_s", "summarize_overhead", "summarize_cli_first_s",
               "summarize_cli_s"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lengths", default="72,600", help="meeting lengths in seconds, e.g. 72,600,3600")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    load_start = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as tmp:
        work = Path(tmp)
        videos = {
            s: [make_meeting_video(s, work / f"meeting-{s}s-{i}.mp4", variant=i) for i in range(args.runs)]
            for s in lengths
        }
        runs = bench_stack(videos, work / "state")
        rows = [summarise(s, runs[s]) for s in lengths]
        baselines: dict[int, Any] = {}
        if not args.skip_baselines:
            # The baseline prompt is built from the transcript the stack produced (kept from the first run).
            for row in rows:
                seconds = row["audio_s"]
                baselines[seconds] = baseline_row(row, runs[seconds][0].get("transcript_json"), work)
    print_table(rows)
    load_end = [round(v, 2) for v in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "pipeline.json"
    # One section per length, so a long length measured on its own keeps the others' numbers beside it.
    previous = json.loads(target.read_text()) if target.is_file() else {}
    sections: dict[str, Any] = previous.get("lengths", {}) if previous.get("format") == 2 else {}
    for row in rows:
        seconds = row["audio_s"]
        for run in runs[seconds]:
            run.pop("transcript_json", None)
        sections[str(seconds)] = {
            "command": " ".join(["python bench/pipeline.py", *sys.argv[1:]]),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "median": row,
            "baselines": baselines.get(seconds, {}),
            "runs": runs[seconds],
        }
    document = {
        "benchmark": "pipeline",
        "format": 2,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "lengths": dict(sorted(sections.items(), key=lambda item: int(item[0]))),
    }
    target.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
