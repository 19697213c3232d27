"""Moderator settings (`MODERATOR_*`), read once by whoever starts the stage and passed down.

Nothing reads the environment at import time: construct `ModeratorSettings()` in an entry point.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ModeratorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATOR_", env_file=None, extra="ignore", frozen=True)

    # --- detector -------------------------------------------------------------------------------------------
    model_path: Path | None = Field(
        None,
        description="NudeNet ONNX detector weights; unset means the 320n.onnx shipped inside the nudenet "
        "wheel (production images bake the file they want and point here).",
    )
    inference_resolution: int = Field(
        320,
        ge=32,
        multiple_of=32,
        description="Square side the detector sees (a multiple of the model's stride, 32). 320 matches the "
        "shipped model; 640 is about 3x slower on CPU.",
    )
    onnx_providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="ONNX Runtime execution providers in order of preference, as JSON, e.g. "
        '["CUDAExecutionProvider", "CPUExecutionProvider"] in production. Providers this onnxruntime build '
        "lacks are skipped with a warning.",
    )
    onnx_threads: int = Field(
        0, ge=0, description="Intra-op threads for ONNX Runtime on CPU; 0 lets ONNX Runtime pick (all cores)."
    )
    onnx_spin_wait: bool = Field(
        False,
        description="Let ONNX Runtime's idle CPU threads busy-wait for work. Off by default: on 2 shared cores "
        "a spinning session ran at 51 ms per frame against 24.5 ms without; turn on for a dedicated CPU box.",
    )
    batch_size: int = Field(
        1,
        ge=1,
        le=64,
        description="Frames per detector call. Batching did not pay on 2 CPU cores (measured); 8-16 suits a GPU.",
    )
    policy_json: str | None = Field(
        None,
        description="Moderation policy as JSON, replacing the built-in one entirely, e.g. "
        '{"rules": {"FEMALE_GENITALIA_EXPOSED": {"reject_at": 0.6, "flag_at": 0.4}}, '
        '"reject_min_frames": 1}. '
        "Class names are NudeNet's labels; unknown names are an error at start-up.",
    )

    # --- frame sampling -------------------------------------------------------------------------------------
    sample_interval_s: float = Field(
        5.0, gt=0, description="Seconds between periodic frames (frame 0 is always scanned too)."
    )
    max_frames: int = Field(
        600,
        ge=2,
        description="Most frames scanned per video. Long videos stretch the interval evenly to fit. Sampled "
        "frames are held until detection: memory is at most max_frames x inference_resolution^2 x 3 bytes.",
    )
    scene_threshold: float = Field(
        0.12,
        gt=0,
        le=1,
        description="Scene cut when the mean absolute difference of consecutive grey thumbnails (0..1) "
        "exceeds this. Cuts between unrelated photos measure 0.23-0.28, a static shot under 0.001; raise it "
        "if camera motion triggers spurious cuts.",
    )
    scene_check_interval_s: float = Field(
        0.25,
        ge=0,
        description="How often frames are compared for scene cuts; 0 compares every decoded frame "
        "(costlier on 30-60 fps input).",
    )

    # --- validation limits ----------------------------------------------------------------------------------
    max_duration_s: float = Field(
        3 * 3600.0,
        gt=0,
        description="Longest video accepted, in seconds (stated duration, and checked again "
        "while decoding for files whose header lies).",
    )
    max_size_bytes: int = Field(
        10 * 1024**3, gt=0, description="Largest file accepted, in bytes, where the size is known."
    )
    truncation_tolerance_s: float = Field(
        1.0,
        ge=0,
        description="How far the decoded end of a stream may fall short of its stated duration before "
        "the file counts as truncated.",
    )
    read_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Seconds to wait for data when reading an HTTP(S) URL (e.g. a presigned S3 URL).",
    )
