# syntax=docker/dockerfile:1.7
# vidpipe gateway: Litestar API + web UI. Build from the repository root:
#   docker build -f docker/gateway.Dockerfile -t vidpipe-gateway .

FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv \
    && useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin vidpipe
WORKDIR /src

# Dependencies first, from pyproject + constraints only: a code change reuses this layer.
COPY pyproject.toml constraints.txt docker/pyproject_deps.py ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python pyproject_deps.py --extra gateway > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

COPY README.md ./
COPY shared/ shared/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
    && rm -rf /src/*

COPY docker/entrypoint.sh /usr/local/bin/vidpipe-entrypoint
COPY docker/db_url.py docker/healthcheck.py /usr/local/lib/vidpipe/
WORKDIR /home/vidpipe
USER 10001:10001
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/lib/vidpipe/healthcheck.py", "http", "http://127.0.0.1:8000/health"]
ENTRYPOINT ["/usr/local/bin/vidpipe-entrypoint"]
CMD ["gateway"]
