"""The local default engine: faster-whisper batched int8 on CPU + the shipped-parts diarizer, fully offline.

Per job: silero VAD over the whole file (cheap) → ASR window by window (windows of ≤ `window_seconds` cut
in pauses; the first window with speech detects the language, later ones reuse it) → diarization over the
same speech regions → words joined to speakers.

Hallucination guard: no window is decoded without VAD speech, so silence and low noise never reach Whisper;
inside speech, chunks Whisper itself calls silent (no_speech_prob high and log-probability low) and text that
compresses like a loop (compression ratio) are dropped. The batched pipeline computes these scores but,
unlike the sequential one, does not act on them, so the filter lives here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from vidpipe.errors import PermanentError
from vidpipe_transcriber.audio import SAMPLE_RATE, Waveform
from vidpipe_transcriber.diarizer import (
    EMBEDDING_MODEL,
    CamPlusPlusDiarizer,
    Diarization,
    SpeechRegion,
    detect_speech,
    load_campplus_diarizer,
    load_vad,
)
from vidpipe_transcriber.engine import Progress, assemble_transcript, clean_words
from vidpipe_transcriber.models import TranscribeOptions, Transcript, TranscriptWord
from vidpipe_transcriber.settings import TranscriberSettings
from vidpipe_transcriber.speakers import attach_voices
from vidpipe_transcriber.weights import default_cache_dir, resolve_whisper_model

log = structlog.get_logger("vidpipe.transcriber")

# Share of the progress bar given to ASR when diarization follows (measured: diarization ≈ 1/4 of ASR time).
ASR_SHARE = 0.8
WINDOW_PAD_SECONDS = 1.0
# The batched pipeline hands its segments over a batch at a time (8 x 30 s: a 72 s clip is one batch), so
# between them the bar is moved by an estimate: audio seconds at the speed measured so far in this job
# (or this rate before any), never past the window being decoded. Real segment ends overrule it.
INITIAL_ASR_RATE = 4.0  # x realtime: Whisper base int8 on 2 shared cores, the slow end of what was measured
TICK_SECONDS = 1.0


class AsrClock:
    """Estimated ASR progress between the pipeline's batches, reported every TICK_SECONDS from a thread."""

    def __init__(self, report: Callable[[float], None]) -> None:
        self._report = report
        self._shown_s = 0.0  # audio seconds last reported: the bar never moves back
        self._audio_s = 0.0  # audio seconds decoded in finished windows, for the rate
        self._busy_s = 0.0  # wall seconds those took
        self._lock = threading.Lock()

    def rate(self) -> float:
        return self._audio_s / self._busy_s if self._busy_s > 1.0 else INITIAL_ASR_RATE

    def reached(self, seconds: float) -> None:
        with self._lock:
            if seconds <= self._shown_s:
                return
            self._shown_s = seconds
        self._report(seconds)

    @contextmanager
    def window(self, start_s: float, end_s: float) -> Iterator[None]:
        """While [start_s, end_s] is decoded, move the estimate forward (at most to 99 % of its end)."""
        stop = threading.Event()
        began = time.monotonic()
        rate = self.rate()

        def tick() -> None:
            while not stop.wait(TICK_SECONDS):
                self.reached(min(start_s + (time.monotonic() - began) * rate, start_s + 0.99 * (end_s - start_s)))

        ticker = threading.Thread(target=tick, name="asr-progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            with self._lock:
                self._audio_s += end_s - start_s
                self._busy_s += time.monotonic() - began
        self.reached(end_s)


@dataclass(frozen=True, slots=True)
class HallucinationThresholds:
    no_speech: float = 0.6
    log_prob: float = -1.0
    compression_ratio: float = 2.4

    def rejects(self, segment: Any) -> bool:
        if segment.compression_ratio > self.compression_ratio:
            return True
        return bool(segment.no_speech_prob > self.no_speech and segment.avg_logprob < self.log_prob)


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(
        self,
        *,
        pipeline: Any,
        model_name: str,
        multilingual: bool,
        vad: Any,
        diarizer: CamPlusPlusDiarizer,
        settings: TranscriberSettings,
    ) -> None:
        self._pipeline = pipeline
        self.model_name = model_name
        self._multilingual = multilingual
        self._vad = vad
        self._diarizer = diarizer
        self._settings = settings
        self._thresholds = HallucinationThresholds(
            settings.no_speech_threshold, settings.log_prob_threshold, settings.compression_ratio_threshold
        )
        self.max_audio_seconds = settings.max_audio_seconds

    def transcribe(self, audio: Waveform, options: TranscribeOptions, progress: Progress | None = None) -> Transcript:
        duration = audio.shape[0] / SAMPLE_RATE
        if options.language not in (None, "en") and not self._multilingual:
            raise PermanentError(
                "unsupported_language",
                f"Model {self.model_name} is English-only; it cannot transcribe {options.language!r}.",
            )
        asr_share = ASR_SHARE if options.diarize else 1.0

        def report(fraction: float, detail: str) -> None:
            if progress is not None:
                progress(min(1.0, max(0.0, fraction)), detail)

        started = time.monotonic()
        speech = detect_speech(audio, self._vad)
        vad_s = time.monotonic() - started
        language = options.language or ("en" if not self._multilingual else None)
        probability = 1.0
        asr_segments: list[list[TranscriptWord]] = []

        def asr_progress(seconds_done: float) -> None:
            detail = f"transcribed {seconds_done:.0f}/{duration:.0f} s"
            report(asr_share * seconds_done / max(duration, 1e-9), detail)

        clock = AsrClock(asr_progress)
        started = time.monotonic()
        for window_start, window_end in plan_windows(speech, self._settings.window_seconds, duration):
            offset = window_start / SAMPLE_RATE
            with clock.window(offset, window_end / SAMPLE_RATE):
                segments, info = self._pipeline.transcribe(
                    audio[window_start:window_end],
                    language=language,
                    batch_size=self._settings.batch_size,
                    beam_size=self._settings.beam_size,
                    word_timestamps=True,
                    vad_filter=True,
                    hotwords=options.hotwords,
                    initial_prompt=options.initial_prompt,
                )
                if language is None and info.duration_after_vad > 0:
                    # The first window holding speech decides the language for the whole file: switching
                    # mid-file would let one noisy window flip the decoder's script. (A window where Whisper's
                    # own VAD found nothing reports a "language" guessed from padding; it must not decide.)
                    language, probability = info.language, float(info.language_probability)
                for words in self._accept(segments, offset, duration, clock.reached):
                    asr_segments.append(words)
        asr_s = time.monotonic() - started

        words_found = any(asr_segments)
        diarization = Diarization(turns=[], voices={})
        started = time.monotonic()
        if options.diarize and words_found:
            report(asr_share, "diarizing")
            diarization = self._diarizer.diarize_with_voices(
                audio,
                speech,
                min_speakers=options.min_speakers,
                max_speakers=options.max_speakers or self._settings.max_speakers,
                progress=lambda f: report(asr_share + (1 - asr_share) * f, "diarizing"),
            )
        # Where a job's time goes (the speed work reads these): VAD, ASR and diarization walls.
        log.info(
            "transcribed",
            audio_s=round(duration, 1),
            vad_s=round(vad_s, 2),
            asr_s=round(asr_s, 2),
            diarize_s=round(time.monotonic() - started, 2),
            beam_size=self._settings.beam_size,
            batch_size=self._settings.batch_size,
        )
        report(1.0, "done")
        if not words_found:
            # Nothing was said: a language "detected" from noise would be a guess, so report none.
            language, probability = options.language or "und", 0.0
        transcript = assemble_transcript(
            engine=self.name,
            model=self.model_name,
            language=language or "und",
            language_probability=probability,
            duration=duration,
            asr_segments=[s for s in asr_segments if s],
            turns=diarization.turns,
            diarized=options.diarize,
        )
        return attach_voices(transcript, diarization.turns, diarization.voices, EMBEDDING_MODEL)

    def _accept(
        self, segments: Iterable[Any], offset: float, duration: float, progress: Callable[[float], None]
    ) -> Iterable[list[TranscriptWord]]:
        last_start = offset
        for segment in segments:
            progress(min(duration, offset + segment.end))
            if self._thresholds.rejects(segment):
                log.info("dropped likely hallucination", at_s=round(offset + segment.start, 1), text=segment.text)
                continue
            words = [
                TranscriptWord(start=offset + w.start, end=offset + w.end, word=w.word, probability=w.probability)
                for w in segment.words or []
            ]
            cleaned = clean_words(words, duration=duration, floor=last_start)
            if cleaned:
                last_start = cleaned[-1].start
                yield cleaned


def plan_windows(speech: Sequence[SpeechRegion], max_seconds: float, duration: float) -> list[tuple[int, int]]:
    """Sample ranges covering all speech, each about `max_seconds` at most, bounded in pauses.

    Windows hold whole speech regions plus up to `WINDOW_PAD_SECONDS` of context, never reaching past the
    middle of the pause to the next window, and long silences between windows are not decoded at all. A single
    region longer than `max_seconds` (a monologue without a 200 ms pause, or music the VAD took for speech) is
    cut hard at the limit: a rare split word is the price of bounded memory.
    """
    pieces: list[SpeechRegion] = []
    for start, end in speech:
        while end - start > max_seconds:
            pieces.append((start, start + max_seconds))
            start += max_seconds
        pieces.append((start, end))
    groups: list[SpeechRegion] = []
    for start, end in pieces:
        if groups and end - groups[-1][0] <= max_seconds:
            groups[-1] = (groups[-1][0], end)
        else:
            groups.append((start, end))
    windows: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(groups):
        low, high = start - WINDOW_PAD_SECONDS, end + WINDOW_PAD_SECONDS
        if i > 0:
            low = max(low, (groups[i - 1][1] + start) / 2)
        if i + 1 < len(groups):
            high = min(high, (end + groups[i + 1][0]) / 2)
        low, high = max(0.0, low), min(duration, high)
        if high > low:
            windows.append((int(low * SAMPLE_RATE), int(high * SAMPLE_RATE)))
    return windows


def load_local_engine(settings: TranscriberSettings) -> FasterWhisperEngine:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model_name = settings.resolved_model()
    model_dir = resolve_whisper_model(model_name, settings.model_cache_dir)
    whisper = WhisperModel(
        str(model_dir),
        device=settings.device,
        compute_type=settings.resolved_compute_type(),
        cpu_threads=settings.cpu_threads,
        local_files_only=True,
    )
    return FasterWhisperEngine(
        pipeline=BatchedInferencePipeline(model=whisper),
        model_name=model_name,
        multilingual=bool(whisper.model.is_multilingual),
        vad=load_vad(),
        diarizer=load_campplus_diarizer(settings.cpu_threads, settings.model_cache_dir or default_cache_dir()),
        settings=settings,
    )
