"""Production engine: WhisperX 3.8 (batched faster-whisper, fp16 on GPU) + wav2vec2 alignment + pyannote.

Runs in the GPU image, which installs whisperx from requirements/transcriber-gpu.lock and bakes every weight in
at build time (docker/fetch_transcriber_models.py: CTranslate2 Whisper, the wav2vec2 aligner, pyannote
community-1, NLTK punkt_tab) under `TRANSCRIBER_MODELS_DIR`, and runs with `HF_HUB_OFFLINE=1`, so nothing is
fetched at run time. The loaders here and that script pass the same directory to the same whisperx calls
(download_root / model_dir / cache_dir); tests/production proves they agree. whisperx is imported lazily: the
CPU venv does not have it, and `import vidpipe_transcriber` must stay light.

The aligner (per language) and the diarizer are built on first use through loaders the constructor takes, so
a job without diarization never loads pyannote, and tests can inject stand-ins for the hub-only models.
A weight missing from the image is the deployment's fault, not the input's: it is a RetryableError
(`model_missing`), so the message ends in the DLQ (alarmed, re-drivable once the image is fixed) instead of
failing the task as if the video were bad. A language that has no aligner at all is `unsupported_language`.

Speaker assignment, segment splitting and labels use the same functions as the local engine (greatest
overlap, else nearest; this is what `whisperx.assign_word_speakers(..., fill_nearest=True)` does, but one
shared implementation keeps the two engines' output identical in shape and order).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Protocol

from vidpipe.errors import PermanentError, RetryableError
from vidpipe_transcriber.audio import SAMPLE_RATE, Waveform
from vidpipe_transcriber.engine import Progress, assemble_transcript, clean_words
from vidpipe_transcriber.models import SpeakerTurn, TranscribeOptions, Transcript, TranscriptWord
from vidpipe_transcriber.settings import TranscriberSettings
from vidpipe_transcriber.speakers import attach_voices

LANGUAGE_PROBE_SECONDS = 30

Aligner = tuple[Any, dict[str, Any]]
"""What `whisperx.load_align_model` returns: the wav2vec2 model and its metadata (dictionary, language, type)."""


class Diarizer(Protocol):
    """The call whisperx's `DiarizationPipeline` answers: a DataFrame with start, end and speaker columns."""

    def __call__(
        self,
        audio: Waveform,
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        return_embeddings: bool = False,
        progress_callback: Callable[[float], None] | None = None,
    ) -> Any: ...


AlignerLoader = Callable[[str], Aligner]
DiarizerLoader = Callable[[], Diarizer]

# Exceptions a loader raises when the weights are not on disk and may not be downloaded: URLError (torchaudio
# bundles, via torch.hub), huggingface_hub's LocalEntryNotFoundError (an OSError), whisperx's ValueError for
# Hugging Face aligners, RuntimeError for a truncated checkpoint, AttributeError when pyannote returns None.
_LOAD_FAILURES = (OSError, ValueError, RuntimeError, AttributeError)


class WhisperXEngine:
    name = "whisperx"

    def __init__(
        self,
        *,
        asr: Any,
        settings: TranscriberSettings,
        load_aligner: AlignerLoader | None = None,
        load_diarizer: DiarizerLoader | None = None,
    ) -> None:
        """`asr`: a whisperx FasterWhisperPipeline. The loaders default to the real ones (baked weights)."""
        self._asr = asr
        self._settings = settings
        self._load_aligner: AlignerLoader = load_aligner or (lambda language: load_aligner_model(settings, language))
        self._load_diarizer: DiarizerLoader = load_diarizer or (lambda: load_diarization_pipeline(settings))
        self._aligners: dict[str, Aligner] = {}
        self._diarizer: Diarizer | None = None
        self._loading = threading.Lock()
        self.model_name = settings.resolved_model()
        self.max_audio_seconds = settings.max_audio_seconds

    def transcribe(self, audio: Waveform, options: TranscribeOptions, progress: Progress | None = None) -> Transcript:
        import whisperx

        def report(fraction: float, detail: str) -> None:
            if progress is not None:
                progress(min(1.0, max(0.0, fraction)), detail)

        duration = audio.shape[0] / SAMPLE_RATE
        language, probability = options.language, 1.0
        if language is None and audio.shape[0] > 0:
            # whisperx's own detection logs the probability but returns only the code; ask faster-whisper.
            language, probability, _ = self._asr.model.detect_language(
                audio=audio[: LANGUAGE_PROBE_SECONDS * SAMPLE_RATE]
            )
        # Per-job prompt and hotwords: whisperx keeps decoding options on the pipeline, so set them per call.
        self._asr.options = dataclasses.replace(
            self._asr.options, initial_prompt=options.initial_prompt, hotwords=options.hotwords
        )
        result = self._asr.transcribe(
            audio,
            batch_size=self._settings.batch_size,
            language=language,
            progress_callback=lambda pct: report(0.5 * pct / 100, "transcribing"),
        )
        segments = [s for s in result["segments"] if s.get("text", "").strip()]
        if not segments:
            # Nothing was said: a language "detected" from silence would be noise, so report none.
            return assemble_transcript(
                engine=self.name,
                model=self.model_name,
                language=options.language or "und",
                language_probability=0.0,
                duration=duration,
                asr_segments=[],
                turns=[],
                diarized=options.diarize,
            )

        language = result.get("language") or language or "und"
        model_a, metadata = self._aligner(language)
        aligned = whisperx.align(
            segments,
            model_a,
            metadata,
            audio,
            self._settings.device,
            return_char_alignments=False,
            progress_callback=lambda pct: report(0.5 + 0.15 * pct / 100, "aligning words"),
        )
        asr_segments = [_timed_words(segment, duration) for segment in aligned["segments"]]

        turns: list[SpeakerTurn] = []
        voices: dict[str, list[float]] = {}
        if options.diarize:
            # whisperx 3.8's DiarizationPipeline hands back pyannote's per-speaker embeddings (its centroids)
            # with return_embeddings=True: they become the speakers' voices for voice profiles.
            result = self._diarization()(
                audio,
                min_speakers=options.min_speakers,
                max_speakers=options.max_speakers or self._settings.max_speakers,
                return_embeddings=True,
                progress_callback=lambda pct: report(0.65 + 0.35 * pct / 100, "diarizing"),
            )
            frame, embeddings = result if isinstance(result, tuple) else (result, None)
            voices = {str(k): [float(x) for x in v] for k, v in (embeddings or {}).items()}
            turns = [
                SpeakerTurn(start=round(float(row.start), 3), end=round(float(row.end), 3), speaker=str(row.speaker))
                for row in frame.itertuples()
            ]
        report(1.0, "done")
        transcript = assemble_transcript(
            engine=self.name,
            model=self.model_name,
            language=language,
            language_probability=float(probability),
            duration=duration,
            asr_segments=[s for s in asr_segments if s],
            turns=turns,
            diarized=options.diarize,
        )
        return attach_voices(transcript, turns, voices, self._settings.diarization_model)

    def _aligner(self, language: str) -> Aligner:
        with self._loading:
            if language not in self._aligners:
                self._aligners[language] = self._load_aligner(language)
            return self._aligners[language]

    def _diarization(self) -> Diarizer:
        with self._loading:
            if self._diarizer is None:
                self._diarizer = self._load_diarizer()
            return self._diarizer


def _timed_words(segment: dict[str, Any], duration: float) -> list[TranscriptWord]:
    """Aligned words; those wav2vec2 could not place (digits, symbols) borrow their neighbours' times."""
    raw = [w for w in segment.get("words", []) if str(w.get("word", "")).strip()]
    words: list[TranscriptWord] = []
    for i, w in enumerate(raw):
        start = w.get("start")
        end = w.get("end")
        if start is None or end is None:
            previous_end = words[-1].end if words else float(segment["start"])
            following = next((r.get("start") for r in raw[i + 1 :] if r.get("start") is not None), None)
            start = previous_end
            end = float(following) if following is not None else float(segment["end"])
        words.append(
            TranscriptWord(
                start=float(start),
                end=float(end),
                word=" " + str(w["word"]).strip(),
                probability=float(w.get("score", 0.0) or 0.0),
            )
        )
    return clean_words(words, duration)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def model_missing(what: str, name: str, where: str | None, exc: BaseException) -> RetryableError:
    place = where or "the default Hugging Face / torch cache"
    return RetryableError(
        "model_missing",
        f"The {what} {name!r} is not in {place} and this worker does not download weights; build the image "
        f"with docker/fetch_transcriber_models.py for this model ({type(exc).__name__}: {exc})",
    )


def load_aligner_model(settings: TranscriberSettings, language: str) -> Aligner:
    """The wav2vec2 aligner for `language` from the baked weights (no download)."""
    import whisperx
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    model_name = (
        settings.align_model or DEFAULT_ALIGN_MODELS_TORCH.get(language) or DEFAULT_ALIGN_MODELS_HF.get(language)
    )
    if model_name is None:
        raise PermanentError("unsupported_language", f"No word aligner exists for language {language!r}.")
    models_dir = _str_or_none(settings.models_dir)
    try:
        aligner: Aligner = whisperx.load_align_model(
            language_code=language,
            device=settings.device,
            model_name=model_name,
            model_dir=models_dir,
            model_cache_only=True,
        )
    except _LOAD_FAILURES as exc:
        raise model_missing(f"word aligner for {language!r}", model_name, models_dir, exc) from exc
    return aligner


def load_diarization_pipeline(settings: TranscriberSettings) -> Diarizer:
    """pyannote's pipeline through whisperx, from the baked weights (no download)."""
    from whisperx.diarize import DiarizationPipeline

    models_dir = _str_or_none(settings.models_dir)
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    try:
        pipeline: Diarizer = DiarizationPipeline(
            model_name=settings.diarization_model, token=token, device=settings.device, cache_dir=models_dir
        )
    except _LOAD_FAILURES as exc:
        raise model_missing("diarization pipeline", settings.diarization_model, models_dir, exc) from exc
    return pipeline


def load_whisperx_engine(
    settings: TranscriberSettings,
    *,
    load_aligner: AlignerLoader | None = None,
    load_diarizer: DiarizerLoader | None = None,
) -> WhisperXEngine:
    """Load the Whisper model now (once per process); the aligner and the diarizer load on first use."""
    import whisperx

    models_dir = _str_or_none(settings.models_dir)
    try:
        asr = whisperx.load_model(
            settings.resolved_model(),
            settings.device,
            compute_type=settings.resolved_compute_type(),
            asr_options={
                "beam_size": settings.beam_size,
                "no_speech_threshold": settings.no_speech_threshold,
                "log_prob_threshold": settings.log_prob_threshold,
                "compression_ratio_threshold": settings.compression_ratio_threshold,
            },
            download_root=models_dir,
            local_files_only=True,
            threads=settings.cpu_threads or 4,
        )
    except _LOAD_FAILURES as exc:
        raise model_missing("Whisper model", settings.resolved_model(), models_dir, exc) from exc
    return WhisperXEngine(asr=asr, settings=settings, load_aligner=load_aligner, load_diarizer=load_diarizer)
