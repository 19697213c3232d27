"""The moderator stage's engine: validate an uploaded video, scan sampled frames with NudeNet, extract speech.

Entry point: `vidpipe_moderator.engine.load_moderator(settings).moderate(source, audio_out=..., progress=...)`.
Modules: `settings` (MODERATOR_*), `media` (probe + single decode pass), `sampling` (which frames), `detector`
(NudeNet on ONNX Runtime), `policy` (verdict rules), `results` (msgspec Structs), `cli` (`vidpipe moderate`).
Importing this package loads nothing heavy; PyAV, OpenCV and ONNX Runtime load when first used.
"""
