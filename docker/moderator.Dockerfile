# syntax=docker/dockerfile:1.7
# vidpipe moderator worker. Two targets, built from the repository root:
#   --target cpu   local default: NudeNet 320n shipped in the nudenet wheel, ONNX Runtime on CPU
#   (default) gpu  production: CUDA runtime, onnxruntime-gpu, NudeNet 640m weights baked in
#   docker build -f docker/moderator.Dockerfile -t vidpipe-moderator .

# ------------------------------------------------------------------------------------------------ cpu
FROM python:3.11.14-slim-bookworm AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
    && useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe
WORKDIR /src
COPY pyproject.toml constraints.txt docker/pyproject_deps.py ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python pyproject_deps.py --extra moderator > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt
COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps . && rm -rf /src/*
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "moderate"]

# ------------------------------------------------------------------------------------------------ gpu
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS gpu
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe \
    && uv venv --python 3.11 /opt/venv
WORKDIR /src
COPY pyproject.toml constraints.txt docker/pyproject_deps.py requirements/moderator-gpu.txt ./
# The CPU onnxruntime that nudenet pulls in is swapped for the CUDA build (same Python module name);
# CI resolves this set with `.ci/gpu_locks.py check`.
RUN --mount=type=cache,target=/root/.cache/uv \
    python pyproject_deps.py --extra moderator > /tmp/requirements.txt \
    && uv pip install -c constraints.txt -r /tmp/requirements.txt \
    && uv pip uninstall onnxruntime \
    && uv pip install -c constraints.txt -r moderator-gpu.txt

# NudeNet's 640m detector is published as a release asset, not in any wheel. Pin its digest with
# --build-arg NUDENET_640M_SHA256=... once verified (the build prints it while unpinned).
ARG NUDENET_640M_URL=https://github.com/notAI-tech/NudeNet/releases/download/v3.4-weights/640m.onnx
ARG NUDENET_640M_SHA256=
COPY docker/fetch_file.py /tmp/
RUN python /tmp/fetch_file.py "${NUDENET_640M_URL}" /opt/models/nudenet/640m.onnx "${NUDENET_640M_SHA256}"

COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv uv pip install --no-deps . && rm -rf /src/*
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
ENV HF_HUB_OFFLINE=1 \
    MODERATOR_MODEL_PATH=/opt/models/nudenet/640m.onnx \
    MODERATOR_INFERENCE_RESOLUTION=640 \
    MODERATOR_ONNX_PROVIDERS='["CUDAExecutionProvider","CPUExecutionProvider"]'
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "moderate"]
