"""Bake the production transcriber's weights into the image at build time (no hub access at run time).

Every download goes through the loader whisperx itself uses at run time, with the directory the engine
passes (vidpipe_transcriber/whisperx_engine.py), so the files land exactly where the engine looks:

  * CTranslate2 Whisper ($TRANSCRIBER_MODEL)       whisperx.load_model(download_root=$TRANSCRIBER_MODELS_DIR)
  * wav2vec2 aligner per language                  whisperx.load_align_model(model_dir=$TRANSCRIBER_MODELS_DIR)
  * pyannote pipeline ($TRANSCRIBER_DIARIZATION_MODEL, gated: needs the HF token build secret)
                                                   DiarizationPipeline(token=..., cache_dir=$TRANSCRIBER_MODELS_DIR)
  * NLTK punkt_tab (whisperx's alignment splits sentences with it and would call nltk.download at run time)
                                                   nltk.download(download_dir=$NLTK_DATA)

The environment names are the engine's settings (TRANSCRIBER_*), set once in the Dockerfile for both. Loading
happens on CPU: the build machine needs no GPU. tests/production runs this script against a fake hub cache and
then loads the engine from the same directory.
"""

import os
import sys
from pathlib import Path

DEFAULT_DIARIZATION_MODEL = "pyannote/speaker-diarization-community-1"


def read_token() -> str | None:
    token_file = Path(os.environ.get("HF_TOKEN_FILE", "/run/secrets/hf_token"))
    if token_file.is_file():
        return token_file.read_text().strip() or None
    return os.environ.get("HF_TOKEN") or None


def main() -> int:
    models_dir = os.environ["TRANSCRIBER_MODELS_DIR"]
    whisper_model = os.environ["TRANSCRIBER_MODEL"]
    align_languages = [code for code in os.environ.get("TRANSCRIBER_ALIGN_LANGUAGES", "en").split(",") if code]
    align_model = os.environ.get("TRANSCRIBER_ALIGN_MODEL") or None
    diarization_model = os.environ.get("TRANSCRIBER_DIARIZATION_MODEL") or DEFAULT_DIARIZATION_MODEL
    nltk_data = os.environ["NLTK_DATA"]
    token = read_token()
    if token is None and os.environ.get("HF_HUB_OFFLINE") != "1":
        sys.stderr.write("the gated pyannote pipeline needs a Hugging Face token: --secret id=hf_token,env=HF_TOKEN\n")
        return 1

    import nltk
    import whisperx
    from whisperx.diarize import DiarizationPipeline

    whisperx.load_model(whisper_model, "cpu", compute_type="int8", download_root=models_dir)
    for language in align_languages:
        whisperx.load_align_model(language_code=language, device="cpu", model_name=align_model, model_dir=models_dir)
    # whisperx 3.8 takes `token=` (not `use_auth_token=`) and passes cache_dir on to pyannote's from_pretrained.
    DiarizationPipeline(model_name=diarization_model, token=token, device="cpu", cache_dir=models_dir)
    try:  # nltk.download asks the network for its index even when the package is there: look first
        nltk.data.find("tokenizers/punkt_tab/english/", paths=[nltk_data])
    except LookupError:
        if not nltk.download("punkt_tab", download_dir=nltk_data, quiet=True, raise_on_error=True):
            sys.stderr.write(f"could not fetch NLTK punkt_tab into {nltk_data}\n")
            return 1
    sys.stdout.write(f"weights for {whisper_model}, aligners {align_languages}, {diarization_model} in {models_dir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
