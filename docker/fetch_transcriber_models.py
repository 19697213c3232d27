"""Bake the production transcriber's weights into the image at build time (no hub access at run time).

Uses whisperx's own loaders so the files land exactly where they look for them at run time:
  * faster-whisper large-v3 (CTranslate2)   -> $TRANSCRIBER_MODELS_DIR   (download_root)
  * wav2vec2 English alignment               -> $TRANSCRIBER_MODELS_DIR   (model_dir) / $TORCH_HOME
  * pyannote speaker-diarization-community-1 -> $HF_HOME (gated: needs the HF token build secret)
Loading happens on CPU: the build machine needs no GPU.
"""

import os
import sys
from pathlib import Path


def main() -> int:
    models_dir = os.environ["TRANSCRIBER_MODELS_DIR"]
    whisper_model = os.environ.get("TRANSCRIBER_MODEL", "large-v3")
    diarization_model = os.environ.get("TRANSCRIBER_DIARIZATION_MODEL", "pyannote/speaker-diarization-community-1")
    token_file = Path("/run/secrets/hf_token")
    token = token_file.read_text().strip() if token_file.exists() else os.environ.get("HF_TOKEN")
    if not token:
        sys.stderr.write("the gated pyannote pipeline needs a Hugging Face token: --secret id=hf_token,env=HF_TOKEN\n")
        return 1

    import whisperx
    from whisperx.diarize import DiarizationPipeline

    whisperx.load_model(whisper_model, "cpu", compute_type="int8", download_root=models_dir)
    whisperx.load_align_model(language_code="en", device="cpu", model_dir=models_dir)
    DiarizationPipeline(model_name=diarization_model, use_auth_token=token, device="cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
