"""The nudity detector: NudeNet's YOLOv8 ONNX model behind a small protocol, loaded once per process.

We run the ONNX session ourselves rather than through `nudenet.NudeDetector` for two reasons found in its code
(nudenet 3.4.2): it ignores the `providers` argument (the line is commented out), so it could never use CUDA;
and its post-processing loops over all 2,100 candidate rows in Python. Pre- and post-processing here are the
same operations (pad bottom/right to a square, resize, scale to 0..1; keep rows scoring >= 0.2, class-agnostic
NMS at 0.25/0.45), so detections equal `NudeDetector().detect(rgb_array)` (a test holds us to that).

Channel order: frames go in as RGB, exactly as PyAV decodes them, and the model sees RGB. The weights are an
Ultralytics YOLOv8 export (see the ONNX metadata), and Ultralytics trains and predicts on RGB. NudeNet's own
path API happens to hand the model BGR: `cv2.imread` gives BGR, then `cvtColor(RGBA2BGR)` on a 3-channel image
and `blobFromImage(swapRB=True)` swap twice, so the caller's order reaches the model unchanged. Confidence is
higher with RGB (astronaut FACE_FEMALE 0.81 vs 0.72), which agrees with the training convention.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from vidpipe_moderator.policy import NUDENET_LABELS
from vidpipe_moderator.results import Detection

if TYPE_CHECKING:
    from vidpipe_moderator.settings import ModeratorSettings

RgbImage = NDArray[np.uint8]  # height x width x 3, RGB

# NudeNet's post-processing constants, kept identical so our output matches the reference implementation.
CANDIDATE_SCORE = 0.2
NMS_SCORE = 0.25
NMS_IOU = 0.45


class NudityDetector(Protocol):
    """Anything that turns RGB frames into NudeNet-labelled detections (boxes in each frame's own pixels)."""

    @property
    def description(self) -> str: ...

    def detect(self, frames: Sequence[RgbImage]) -> list[list[Detection]]: ...


def shipped_model_path() -> Path:
    """The 320n.onnx in the installed nudenet wheel, found without importing nudenet (which imports cv2)."""
    import importlib.util

    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nudenet package is not installed; set MODERATOR_MODEL_PATH to an ONNX file")
    return Path(next(iter(spec.submodule_search_locations))) / "320n.onnx"


class OnnxNudeDetector:
    """NudeNet's detector on ONNX Runtime with configurable providers (CUDA in production, CPU locally)."""

    def __init__(self, session: Any, *, inference_resolution: int, batch_size: int, model_name: str) -> None:
        self._session = session
        self._input_name: str = session.get_inputs()[0].name
        self._resolution = inference_resolution
        self._batch_size = batch_size
        self._model_name = model_name

    @property
    def description(self) -> str:
        provider = self._session.get_providers()[0]
        return f"nudenet:{self._model_name}@{self._resolution} ({provider})"

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def detect(self, frames: Sequence[RgbImage]) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for start in range(0, len(frames), self._batch_size):
            batch = frames[start : start + self._batch_size]
            blob = np.concatenate([self._to_blob(frame) for frame in batch])
            (output,) = self._session.run(None, {self._input_name: blob})
            results.extend(self._postprocess(output[i], frame) for i, frame in enumerate(batch))
        return results

    def _to_blob(self, frame: RgbImage) -> NDArray[np.float32]:
        import cv2

        height, width = frame.shape[:2]
        side = max(height, width)
        # Pad bottom/right (not centred) as NudeNet does, so box arithmetic and scores match it exactly.
        padded = cv2.copyMakeBorder(frame, 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=0)
        resized = cv2.resize(padded, (self._resolution, self._resolution), interpolation=cv2.INTER_LINEAR)
        blob = resized.astype(np.float32).transpose(2, 0, 1)[None] * np.float32(1 / 255.0)
        return np.ascontiguousarray(blob)

    def _postprocess(self, output: NDArray[np.float32], frame: RgbImage) -> list[Detection]:
        import cv2

        rows = output.T  # (candidates, 4 box + classes)
        class_scores = rows[:, 4:]
        best_class = class_scores.argmax(axis=1)
        best_score = class_scores[np.arange(len(rows)), best_class]
        keep = best_score >= CANDIDATE_SCORE
        if not keep.any():
            return []
        rows, best_class, best_score = rows[keep], best_class[keep], best_score[keep]

        height, width = frame.shape[:2]
        side = max(height, width)
        scale = side / self._resolution
        cx, cy, w, h = (rows[:, i].astype(np.float64) * scale for i in range(4))
        x = np.clip(cx - w / 2, 0, width)
        y = np.clip(cy - h / 2, 0, height)
        w = np.minimum(w, width - x)
        h = np.minimum(h, height - y)
        boxes = np.stack([x, y, w, h], axis=1)
        kept = cv2.dnn.NMSBoxes(boxes.tolist(), best_score.astype(float).tolist(), NMS_SCORE, NMS_IOU)
        detections = []
        for i in np.asarray(kept, dtype=np.int64).reshape(-1):
            bx, by, bw, bh = (int(v) for v in boxes[i])
            detections.append(
                Detection(label=NUDENET_LABELS[int(best_class[i])], score=float(best_score[i]), box=(bx, by, bw, bh))
            )
        return detections


def load_detector(settings: ModeratorSettings) -> OnnxNudeDetector:
    """Create the ONNX session once per worker process (0.5 s on CPU), before the first message."""
    import onnxruntime
    import structlog

    model_path = settings.model_path or shipped_model_path()
    if not model_path.is_file():
        raise RuntimeError(f"detector model not found at {model_path}")
    available = set(onnxruntime.get_available_providers())
    providers = [p for p in settings.onnx_providers if p in available]
    skipped = [p for p in settings.onnx_providers if p not in available]
    if skipped:
        structlog.get_logger(__name__).warning(
            "onnx_providers_unavailable", skipped=skipped, available=sorted(available), using=providers
        )
    if not providers:
        raise RuntimeError(
            f"none of MODERATOR_ONNX_PROVIDERS {settings.onnx_providers} is available in this onnxruntime "
            f"build (available: {sorted(available)})"
        )
    options = onnxruntime.SessionOptions()
    if settings.onnx_threads:
        options.intra_op_num_threads = settings.onnx_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.onnx_spin_wait else "0")
    # Quiet the "initializer appears in graph inputs" chatter of older exports; errors still surface.
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(os.fspath(model_path), sess_options=options, providers=providers)
    return OnnxNudeDetector(
        session,
        inference_resolution=settings.inference_resolution,
        batch_size=settings.batch_size,
        model_name=model_path.stem,
    )
