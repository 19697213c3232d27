"""Production engine: WhisperX 3.8 (batched faster-whisper, fp16 on GPU) + wav2vec2 alignment + pyannote.

Runs only in the GPU image, which installs whisperx and bakes every weight in at build time (CTranslate2
large-v3(-turbo), the wav2vec2 aligner per language, pyannote community-1) under `TRANSCRIBER_MODELS_DIR`,
and runs with `HF_HUB_OFFLINE=1`, so nothing is fetched at run time. whisperx is imported lazily: the CPU
venv does not have it, and `import vidpipe_transcriber` must stay light.

Speaker assignment, segment splitting and labels use the same functions as the local engine (greatest
overlap, else nearest; this is what `whisperx.assign_word_speakers(..., fill_nearest=True)` does, but one
shared implementation keeps the two engines' output identical in shape and order).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vidpipe.errors import PermanentError
from vidpipe_transcriber.audio import SAMPLE_RATE, Waveform
from vidpipe_transcriber.engine import Progress, assemble_transcript, clean_words
from vidpipe_transcriber.models import SpeakerTurn, TranscribeOptions, Transcript, TranscriptWord
from vidpipe_transcriber.settings import TranscriberSettings

LANGUAGE_PROBE_SECONDS = 30


class WhisperXEngine:
    name = "whisperx"

    def __init__(self, *, asr: Any, diarizer: Any, settings: TranscriberSettings) -> None:
        self._asr = asr
        self._diarizer = diarizer
        self._settings = settings
        self._aligners: dict[str, tuple[Any, dict[str, Any]]] = {}
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
        if options.diarize:
            frame = self._diarizer(
                audio,
                min_speakers=options.min_speakers,
                max_speakers=options.max_speakers or self._settings.max_speakers,
                progress_callback=lambda pct: report(0.65 + 0.35 * pct / 100, "diarizing"),
            )
            turns = [
                SpeakerTurn(start=round(float(row.start), 3), end=round(float(row.end), 3), speaker=str(row.speaker))
                for row in frame.itertuples()
            ]
        report(1.0, "done")
        return assemble_transcript(
            engine=self.name,
            model=self.model_name,
            language=language,
            language_probability=float(probability),
            duration=duration,
            asr_segments=[s for s in asr_segments if s],
            turns=turns,
            diarized=options.diarize,
        )

    def _aligner(self, language: str) -> tuple[Any, dict[str, Any]]:
        import whisperx

        if language not in self._aligners:
            try:
                self._aligners[language] = whisperx.load_align_model(
                    language_code=language,
                    device=self._settings.device,
                    model_name=self._settings.align_model,
                    model_dir=_str_or_none(self._settings.models_dir),
                    model_cache_only=True,
                )
            except ValueError as exc:  # whisperx: "No default align-model for language"
                raise PermanentError(
                    "unsupported_language", f"No word aligner is installed for language {language!r}."
                ) from exc
        return self._aligners[language]


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


def load_whisperx_engine(settings: TranscriberSettings) -> WhisperXEngine:
    import whisperx
    from whisperx.diarize import DiarizationPipeline

    models_dir = _str_or_none(settings.models_dir)
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
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    diarizer = DiarizationPipeline(
        model_name=settings.diarization_model, token=token, device=settings.device, cache_dir=models_dir
    )
    return WhisperXEngine(asr=asr, diarizer=diarizer, settings=settings)
