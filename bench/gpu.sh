#!/usr/bin/env bash
# The production engines on a GPU machine: one 60-minute recording through the GPU transcriber image
# (WhisperX large-v3 fp16 + wav2vec2 alignment + pyannote community-1) and the summarizer worker against the
# vLLM image (Llama 3.2 3B Instruct). Prints seconds and × real time per stage, writes bench/results/gpu.json.
#
# NOT RUN YET: no GPU machine was available to the sessions that wrote it (README, "Deployment").
#
# Needs: Docker with the NVIDIA container toolkit, and the images built as docs/deploy.md says
# (HF token for the gated weights):
#   docker build -f docker/transcriber.Dockerfile --secret id=hf_token,env=HF_TOKEN -t vidpipe-transcriber .
#   docker build -f docker/summarizer.Dockerfile --target vllm --secret id=hf_token,env=HF_TOKEN -t vidpipe-vllm .
#   docker build -f docker/summarizer.Dockerfile -t vidpipe-summarizer .
# Usage: bench/gpu.sh [AUDIO_OR_VIDEO]   (default: the 60 s AMI meeting clip looped to 60 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

input="${1:-../shared/data/audio/ami-mixture.wav}"
minutes="${BENCH_MINUTES:-60}"
transcriber_image="${TRANSCRIBER_IMAGE:-vidpipe-transcriber}"
vllm_image="${VLLM_IMAGE:-vidpipe-vllm}"
summarizer_image="${SUMMARIZER_IMAGE:-vidpipe-summarizer}"
port="${VLLM_PORT_ON_HOST:-8000}"
work="$(mktemp -d)"
vllm_container=""
cleanup() {
    if [[ -n "$vllm_container" ]]; then docker rm -f "$vllm_container" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

# 1. A recording of the wanted length (16 kHz mono, what the moderator hands the transcriber).
ffmpeg -v error -stream_loop -1 -i "$input" -t "$((minutes * 60))" -ac 1 -ar 16000 "$work/input.wav"
duration="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/input.wav")"
echo "input: $(basename "$input") looped to ${duration} s"

# 2. Transcribe with the image's own settings (TRANSCRIBER_ENGINE=whisperx, large-v3, float16, baked weights).
#    The wall time includes loading the models once (as a worker does before its first job).
t0="$(now)"
docker run --rm --gpus all -v "$work:/data" --entrypoint vidpipe "$transcriber_image" \
    transcribe /data/input.wav --progress >"$work/transcript.json"
t1="$(now)"
transcribe_s="$(elapsed "$t0" "$t1")"

# 3. vLLM as Terraform runs it beside the summarizer (the image's defaults; its health check must pass).
vllm_container="$(docker run -d --gpus all -p "127.0.0.1:$port:8000" "$vllm_image")"
t2="$(now)"
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
    sleep 5
    if ! docker ps -q --no-trunc | grep -q "$vllm_container"; then docker logs "$vllm_container" | tail -30; exit 1; fi
done
vllm_start_s="$(elapsed "$t2" "$(now)")"

# 4. Summarize the transcript through the production client (SUMMARIZER_ENGINE=openai).
t3="$(now)"
docker run --rm --network host -v "$work:/data" --entrypoint vidpipe \
    -e SUMMARIZER_ENGINE=openai -e "SUMMARIZER_BASE_URL=http://127.0.0.1:$port/v1" \
    -e SUMMARIZER_MODEL=meta-llama/Llama-3.2-3B-Instruct -e SUMMARIZER_CONTEXT_TOKENS=16384 \
    "$summarizer_image" summarize /data/transcript.json >"$work/summary.json"
summarize_s="$(elapsed "$t3" "$(now)")"

mkdir -p bench/results
python3 - "$duration" "$transcribe_s" "$vllm_start_s" "$summarize_s" "$work/transcript.json" <<'EOF'
import json, sys
duration, transcribe_s, vllm_start_s, summarize_s = map(float, sys.argv[1:5])
transcript = json.load(open(sys.argv[5]))
rows = [("transcribe (WhisperX large-v3 + align + pyannote, incl. load)", transcribe_s),
        ("summarize (vLLM Llama 3.2 3B)", summarize_s)]
print(f"\n{'stage':<64} {'seconds':>8} {'x realtime':>11}")
for name, seconds in rows:
    print(f"{name:<64} {seconds:>8.1f} {duration / seconds:>10.1f}x")
print(f"{'vLLM start-up (not per job)':<64} {vllm_start_s:>8.1f}")
print(f"words {len(transcript.get('words', []))}, speakers {len(transcript.get('speakers', []))}")
result = {"input_seconds": duration, "transcribe_s": transcribe_s, "summarize_s": summarize_s,
          "vllm_startup_s": vllm_start_s, "words": len(transcript.get("words", [])),
          "speakers": len(transcript.get("speakers", []))}
json.dump(result, open("bench/results/gpu.json", "w"), indent=2)
EOF
