"""The summarizer engine: transcript in, validated Summary out, over any LlmBackend.

Transcripts that fit the context window go to the model in one pass; one long enough to deserve chapters is
shown cut by time into numbered parts, and the same answer carries a chapter title per part (a 10-minute
meeting: one prompt read and ~100 tokens written, instead of a call per part plus a reduce call).
Transcripts that do not fit are summarised map-reduce: the transcript is cut at speaker turns into chunks (by
the token budget and, for chapters, by time), each chunk gets notes (summary, title, keywords) whose titles
become the chapters, and the notes are reduced to the final summary, in several rounds if there are too many
notes for one context.

Every model output is decoded into a bounded msgspec Struct; output that fails is regenerated up to
`max_attempts` times and then fails the job (PermanentError), so garbage is never returned.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec
import structlog

from vidpipe.errors import PermanentError
from vidpipe.stage import ProgressReporter
from vidpipe_summarizer.keywords import language_code, rank_keywords
from vidpipe_summarizer.llm import Completion, GenerationProgress, LlmBackend
from vidpipe_summarizer.prompts import (
    SYSTEM_PROMPT,
    NoteLine,
    chaptered_transcript_prompt,
    chat,
    chunk_prompt,
    notes_prompt,
    whole_transcript_prompt,
)
from vidpipe_summarizer.schema import (
    CHUNK_SUMMARY_MAX_CHARS,
    CHUNK_SUMMARY_MIN_CHARS,
    CHUNK_SUMMARY_SENTENCES,
    SUMMARY_MAX_CHARS,
    SUMMARY_MIN_CHARS,
    SUMMARY_SENTENCES,
    TITLE_MAX_CHARS,
    TITLE_MIN_CHARS,
    Chapter,
    LlmChunkNotes,
    LlmSummary,
    LlmSummaryWithChapters,
    Summary,
    bound_sentences,
    chapters_schema,
    json_schema_for,
    mend_cut_sentences,
    summary_decoder,
    summary_encoder,
    worst_case_output_tokens,
)
from vidpipe_summarizer.transcript import Transcript, TranscriptLine, speaker_turns, vocabulary

if TYPE_CHECKING:
    from vidpipe_summarizer.settings import SummarizerSettings

OutputT = TypeVar("OutputT", LlmSummary, LlmChunkNotes, LlmSummaryWithChapters)

# Tokens the chat template wraps around the messages (role headers, BOS/EOS): generous for Llama 3 / Qwen.
_TEMPLATE_OVERHEAD_TOKENS = 64
# Token counts of the transcript lines are summed separately; joining them can merge a token or two.
_BUDGET_SAFETY = 0.95

log = structlog.get_logger("vidpipe.summarizer")


class SummarizerEngine:
    """Turns transcripts into Summaries with one loaded backend; one job at a time per instance."""

    def __init__(self, backend: LlmBackend, settings: SummarizerSettings) -> None:
        self.backend = backend
        self.settings = settings
        # The end marks a sentence may take (they follow the job's language) do not change a schema's worst case.
        self._max_tokens: dict[type[msgspec.Struct], int] = {
            struct: worst_case_output_tokens(json_schema_for(struct)) for struct in (LlmSummary, LlmChunkNotes)
        }
        self.completions: list[Completion] = []
        """Every completion of the last job, for benchmarks (llama-server timings) and debugging."""
        self._report: ProgressReporter | None = None
        self._step: tuple[float, float, str] = (0.0, 1.0, "summarising")

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    def warm(self, *, every_server: bool = True) -> None:
        """Get the local servers ready with the system prompt cached (no-op for remote servers): all of them
        for a long-lived worker, only the one already running for a one-shot run (`every_server=False`)."""
        warm = getattr(self.backend, "warm", None)
        if warm is not None:
            warm(SYSTEM_PROMPT, every_server=every_server)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> SummarizerEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the job ---------------------------------------------------------------------------------------

    def summarize(self, transcript: Transcript, *, progress: ProgressReporter | None = None) -> Summary:
        report = progress or (lambda _fraction, _detail: None)
        self._report = report if progress is not None else None
        self._step = (0.0, 1.0, "summarising")
        self.completions = []
        lines = speaker_turns(transcript)
        if not lines:
            raise PermanentError("empty_transcript", "The transcript has no spoken text to summarise.")
        duration = transcript.span
        language = transcript.known_language
        wants_chapters = duration >= self.settings.chapter_min_duration_s

        single_prompt = whole_transcript_prompt(lines, duration=duration, language=language)
        chapters: list[Chapter] = []
        extra_keywords: list[str] = []
        chunk_count = 1
        if not wants_chapters and self._fits(single_prompt, self._max_tokens[LlmSummary]):
            self._begin_step(0.0, 1.0, "summarising in one pass")
            result = self._generate(LlmSummary, single_prompt, language=language)
        else:
            chunks = self._chunk(lines, duration=duration, language=language, by_time=wants_chapters)
            one_pass = (
                self._chapters_in_one_pass(chunks, duration=duration, language=language)
                if wants_chapters and len(chunks) > 1
                else None
            )
            if one_pass is not None:
                result, chapters = one_pass
            else:
                result, notes = self._map_reduce(chunks, duration=duration, language=language)
                if wants_chapters:
                    chapters = [Chapter(start=note.start, title=note.title) for note in notes]
                extra_keywords = _by_frequency([keyword for note in notes for keyword in note.keywords])
                chunk_count = len(chunks)

        summary = self._assemble(transcript, result, extra_keywords, chapters, chunk_count)
        report(1.0, "done")
        return summary

    def _begin_step(self, low: float, high: float, detail: str) -> None:
        if self._report is not None:
            self._report(low, detail)
        self._step = (low, high, detail)

    def _chapters_in_one_pass(
        self, parts: list[list[TranscriptLine]], *, duration: float, language: str | None
    ) -> tuple[LlmSummary, list[Chapter]] | None:
        """Summary and a chapter title per part from one call, or None when the marked-up transcript and the
        answer do not fit the context together (then map-reduce)."""
        prompt = chaptered_transcript_prompt(parts, duration=duration, language=language)
        schema = chapters_schema(len(parts), language=language)
        if not self._fits(prompt, worst_case_output_tokens(schema)):
            return None
        self._begin_step(0.0, 1.0, "summarising in one pass")
        answer = self._generate(LlmSummaryWithChapters, prompt, language=language, schema=schema)
        chapters = [
            Chapter(start=part[0].start, title=_title(title))
            for part, title in zip(parts, answer.chapters, strict=True)
        ]
        return LlmSummary(summary=answer.summary, title=answer.title, keywords=answer.keywords), chapters

    def _map_reduce(
        self, chunks: list[list[TranscriptLine]], *, duration: float, language: str | None
    ) -> tuple[LlmSummary, list[NoteLine]]:
        total_steps = len(chunks) + 1
        notes: list[NoteLine] = []
        for index, chunk in enumerate(chunks, start=1):
            detail = f"summarising part {index} of {len(chunks)}"
            self._begin_step((index - 1) / total_steps, index / total_steps, detail)
            prompt = chunk_prompt(chunk, part=index, parts=len(chunks), duration=duration, language=language)
            chunk_notes = self._generate(LlmChunkNotes, prompt, language=language)
            notes.append(
                NoteLine(
                    start=chunk[0].start,
                    end=chunk[-1].end,
                    title=_title(chunk_notes.title),
                    summary=_summary_text(
                        chunk_notes.summary,
                        CHUNK_SUMMARY_SENTENCES[1],
                        min_chars=CHUNK_SUMMARY_MIN_CHARS,
                        max_chars=CHUNK_SUMMARY_MAX_CHARS,
                        language=language,
                    ),
                    keywords=chunk_notes.keywords,
                )
            )
        self._begin_step(len(chunks) / total_steps, 1.0, "combining the parts")
        return self._reduce(notes, duration=duration, language=language), notes

    # ---- chunking --------------------------------------------------------------------------------------

    def _budget(self, empty_prompt: str, struct: type[msgspec.Struct]) -> int:
        """Tokens left for transcript text in a prompt whose fixed part is `empty_prompt`."""
        fixed = self.backend.count_tokens(chat_text(empty_prompt)) + _TEMPLATE_OVERHEAD_TOKENS
        return int((self.backend.context_tokens - fixed - self._max_tokens[struct]) * _BUDGET_SAFETY)

    def _fits(self, prompt: str, max_output_tokens: int) -> bool:
        needed = self.backend.count_tokens(chat_text(prompt)) + _TEMPLATE_OVERHEAD_TOKENS + max_output_tokens
        return needed <= self.backend.context_tokens

    def _chunk(
        self, lines: list[TranscriptLine], *, duration: float, language: str | None, by_time: bool
    ) -> list[list[TranscriptLine]]:
        # The fixed part of a chunk prompt, measured at its widest: every speaker named in the header (the
        # probe's empty lines are counted too, a few tokens of extra margin).
        speakers = list(dict.fromkeys(line.speaker for line in lines)) or [None]
        probe = [TranscriptLine(duration, duration, speaker, "") for speaker in speakers]
        empty = chunk_prompt(probe, part=999, parts=999, duration=duration, language=language)
        budget = self._budget(empty, LlmChunkNotes)
        if budget < 64:
            raise PermanentError(
                "llm_context_too_small",
                f"The model's context ({self.backend.context_tokens} tokens) has no room for the transcript.",
            )
        boundaries: list[float] = []
        if by_time:
            target = max(self.settings.chapter_target_s, duration / self.settings.max_chapters)
            parts = max(1, math.ceil(duration / target))
            boundaries = [duration * k / parts for k in range(1, parts)]

        chunks: list[list[TranscriptLine]] = []
        current: list[TranscriptLine] = []
        used = 0
        for whole_line in lines:
            for line, cost in self._fit_line(whole_line, budget):
                crosses_boundary = bool(boundaries) and line.start >= boundaries[0]
                if current and (used + cost > budget or crosses_boundary):
                    chunks.append(current)
                    current, used = [], 0
                while boundaries and line.start >= boundaries[0]:
                    boundaries.pop(0)
                current.append(line)
                used += cost
        if current:
            chunks.append(current)
        return chunks

    def _fit_line(self, line: TranscriptLine, budget: int) -> list[tuple[TranscriptLine, int]]:
        """The line with its token cost, or, if too long for one chunk, its halves split at word boundaries
        with interpolated times."""
        cost = self.backend.count_tokens(line.render() + "\n")
        if cost <= budget:
            return [(line, cost)]
        words = line.text.split()
        if len(words) < 2:
            half = len(line.text) // 2
            first_text, second_text = line.text[:half], line.text[half:]
        else:
            first_text, second_text = " ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])
        middle = line.start + (line.end - line.start) * len(first_text) / max(1, len(line.text))
        first = TranscriptLine(line.start, middle, line.speaker, first_text)
        second = TranscriptLine(middle, line.end, line.speaker, second_text)
        return self._fit_line(first, budget) + self._fit_line(second, budget)

    # ---- reduce ----------------------------------------------------------------------------------------

    def _reduce(self, notes: list[NoteLine], *, duration: float, language: str | None) -> LlmSummary:
        final_prompt = notes_prompt(notes, duration=duration, language=language, final=True)
        while not self._fits(final_prompt, self._max_tokens[LlmSummary]):
            if len(notes) <= 1:
                raise PermanentError(
                    "llm_context_too_small",
                    f"The model's context ({self.backend.context_tokens} tokens) cannot hold one note.",
                )
            notes = self._merge_notes(notes, duration=duration, language=language)
            final_prompt = notes_prompt(notes, duration=duration, language=language, final=True)
        return self._generate(LlmSummary, final_prompt, language=language)

    def _merge_notes(self, notes: list[NoteLine], *, duration: float, language: str | None) -> list[NoteLine]:
        """One intermediate reduce round: each group of consecutive notes that fits a context becomes one."""
        budget = self._budget(notes_prompt([], duration=duration, language=language, final=False), LlmChunkNotes)
        groups: list[list[NoteLine]] = [[]]
        used = 0
        for note in notes:
            cost = self.backend.count_tokens(note.render() + "\n")
            if groups[-1] and used + cost > budget:
                groups.append([])
                used = 0
            groups[-1].append(note)
            used += cost
        if len(groups) == len(notes):
            # Pairs at least, or the rounds would never shrink the list.
            groups = [notes[i : i + 2] for i in range(0, len(notes), 2)]
        merged: list[NoteLine] = []
        for group in groups:
            if len(group) == 1:
                merged.append(group[0])
                continue
            result = self._generate(
                LlmChunkNotes, notes_prompt(group, duration=duration, language=language, final=False), language=language
            )
            merged.append(
                NoteLine(
                    start=group[0].start,
                    end=group[-1].end,
                    title=result.title.strip(),
                    summary=result.summary.strip(),
                    keywords=result.keywords,
                )
            )
        return merged

    # ---- one validated generation ----------------------------------------------------------------------

    def _generate(
        self, struct: type[OutputT], user_prompt: str, *, language: str | None, schema: dict[str, Any] | None = None
    ) -> OutputT:
        """`struct` from the model, under its schema for a transcript in `language` (or the `schema` given for
        this call)."""
        messages = chat(user_prompt)
        if schema is None:
            schema, max_tokens = _schema(struct, language), self._max_tokens[struct]
        else:
            max_tokens = worst_case_output_tokens(schema)
        problem = ""
        for attempt in range(self.settings.max_attempts):
            started = time.monotonic()
            completion = self.backend.complete_json(
                messages,
                schema_name=struct.__name__,
                schema=schema,
                max_tokens=max_tokens,
                # A greedy retry would repeat the same output; later attempts sample, seeded, so a rerun
                # of the same job still makes the same choices.
                temperature=0.0 if attempt == 0 else self.settings.retry_temperature,
                seed=self.settings.seed + attempt,
                progress=self._call_progress(),
            )
            self.completions.append(completion)
            problem = _output_problem(completion)
            self._log_call(struct, attempt, completion, time.monotonic() - started, problem)
            if problem:
                continue
            assert completion.content is not None
            try:
                output = msgspec.json.decode(completion.content, type=struct)
            except msgspec.ValidationError as exc:
                problem = f"does not match the schema: {exc}"
                continue
            except msgspec.DecodeError as exc:
                problem = f"is not JSON: {exc}"
                continue
            if not output.summary.strip() or not output.title.strip():
                problem = "has a blank summary or title"
                continue
            if isinstance(output, LlmSummaryWithChapters):
                wanted = schema["properties"]["chapters"]["minItems"]
                if len(output.chapters) != wanted:
                    problem = f"has {len(output.chapters)} chapter titles for {wanted} parts"
                    continue
            return output
        raise PermanentError(
            "llm_output_invalid",
            f"The model ({self.backend.model_name}) produced no valid {struct.__name__} in "
            f"{self.settings.max_attempts} attempts; the last output {problem}.",
        )

    def _call_progress(self) -> GenerationProgress | None:
        """The current step's share of the job's progress bar, filled as the completion streams in."""
        report = self._report
        if report is None:
            return None
        low, high, detail = self._step

        def progress(fraction: float) -> None:
            report(low + (high - low) * fraction, detail)

        return progress

    def _log_call(
        self, struct: type[msgspec.Struct], attempt: int, completion: Completion, wall_s: float, problem: str
    ) -> None:
        """One structured line per LLM call: what the benchmark reads and what an operator profiles with."""
        timings = completion.timings or {}
        log.info(
            "llm call",
            output=struct.__name__,
            attempt=attempt + 1,
            wall_s=round(wall_s, 2),
            prompt_tokens=completion.prompt_tokens,
            prompt_tokens_cached=timings.get("cache_n"),
            prompt_tokens_read=timings.get("prompt_n"),
            prompt_tokens_per_s=round(timings["prompt_per_second"], 1) if "prompt_per_second" in timings else None,
            generated_tokens=completion.completion_tokens,
            generated_tokens_per_s=round(timings["predicted_per_second"], 1)
            if "predicted_per_second" in timings
            else None,
            draft_tokens=timings.get("draft_n"),
            draft_tokens_accepted=timings.get("draft_n_accepted"),
            threads=getattr(self.backend, "last_threads", None),
            finish_reason=completion.finish_reason,
            invalid=problem or None,
        )

    # ---- result ----------------------------------------------------------------------------------------

    def _assemble(
        self,
        transcript: Transcript,
        result: LlmSummary,
        extra_keywords: Sequence[str],
        chapters: list[Chapter],
        chunk_count: int,
    ) -> Summary:
        text = "\n".join(segment.text for segment in transcript.segments)
        keywords, from_model = rank_keywords(
            result.keywords,
            extra_keywords,
            text=text,
            language=transcript.known_language,
            vocabulary=vocabulary(transcript),
            use_yake=self.settings.keyword_fallback,
        )
        source: Literal["model", "yake", "model+yake"] = (
            "model" if from_model == len(keywords) else "yake" if from_model == 0 else "model+yake"
        )
        summary = Summary(
            title=_title(result.title),
            summary=_summary_text(
                result.summary,
                SUMMARY_SENTENCES[1],
                min_chars=SUMMARY_MIN_CHARS,
                max_chars=SUMMARY_MAX_CHARS,
                language=transcript.known_language,
            ),
            keywords=keywords,
            chapters=chapters,
            language=transcript.known_language,
            model=self.backend.model_name,
            keywords_source=source,
            chunk_count=chunk_count,
        )
        # Round trip through the typed decoder: the Struct's bounds are checked on what we return, too.
        return summary_decoder.decode(summary_encoder.encode(summary))


@functools.cache
def _schema(struct: type[msgspec.Struct], language: str | None) -> dict[str, Any]:
    return json_schema_for(struct, language=language)


def chat_text(user_prompt: str) -> str:
    return "\n".join(message["content"] for message in chat(user_prompt))


# A diarizer label the model copied into its answer although the prompt forbids it ("SPEAKER_01 and SPEAKER_02
# discuss ..."): users see names or nothing, never the machine label (the UI shows a renamed speaker by
# name, so a stored "SPEAKER_01" would also go stale). A run of labels becomes "two speakers", one label
# "a speaker", the next different one "another speaker", and a label seen again "the first speaker", "the
# second speaker", ... in the order they were first mentioned.
_LABEL = r"\bSPEAKER_\d+\b"
_LABEL_RUN = re.compile(rf"(?:\b[Tt]he speakers? )?{_LABEL}(?:(?:,? and |, ){_LABEL})*(?P<possessive>['’]s\b)?")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)$")
_COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]


def without_labels(text: str, *, min_chars: int, max_chars: int) -> str:
    """`text` with diarizer labels put in words (see above); unchanged if there are none, or if the words
    would not fit the field's bounds (a job is never failed over style)."""
    order: list[str] = []

    def phrase_for(labels: list[str], possessive: bool) -> str:
        if len(labels) > 1:
            order.extend(label for label in labels if label not in order)
            return f"{_COUNTS.get(len(labels), str(len(labels)))} speakers" + ("'" if possessive else "")
        label = labels[0]
        if label in order:
            index = order.index(label)
            phrase = f"the {_ORDINALS[index]} speaker" if index < len(_ORDINALS) else "that speaker"
        else:
            order.append(label)
            phrase = "a speaker" if len(order) == 1 else "another speaker"
        return phrase + ("'s" if possessive else "")

    def words(match: re.Match[str]) -> str:
        labels = list(dict.fromkeys(re.findall(_LABEL, match.group(0))))
        phrase = phrase_for(labels, match.group("possessive") is not None)
        starts_sentence = _SENTENCE_START.search(text, 0, match.start()) is not None
        return phrase[0].upper() + phrase[1:] if starts_sentence else phrase

    replaced = _LABEL_RUN.sub(words, text)
    return replaced if min_chars <= len(replaced) <= max_chars else text


def _title(text: str) -> str:
    return without_labels(" ".join(text.split()), min_chars=TITLE_MIN_CHARS, max_chars=TITLE_MAX_CHARS)


def _summary_text(text: str, max_sentences: int, *, min_chars: int, max_chars: int, language: str | None) -> str:
    """A summary (or a chunk's) as users read it: at most `max_sentences` sentences, what the schema's pattern
    already guarantees under constrained decoding, enforced here for servers that ignore the pattern (a cut
    that would leave too little text, a run of one-word "sentences", is not made); sentences the pattern's
    length cap ended mid-clause mended (`mend_cut_sentences`); diarizer labels put in words."""
    cut = bound_sentences(text, max_sentences)
    if len(cut) < min_chars:
        cut = " ".join(text.split())
    else:
        english = language is not None and language_code(language) == "en"
        mended = mend_cut_sentences(cut, english=english)
        cut = mended if len(mended) >= min_chars else cut
    return without_labels(cut, min_chars=min_chars, max_chars=max_chars)


def _output_problem(completion: Completion) -> str:
    if completion.content is None:
        return "was missing (malformed response)"
    if completion.finish_reason == "length":
        return "was cut off at max_tokens"
    return ""


def _by_frequency(keywords: Sequence[str]) -> list[str]:
    """Distinct keywords, most often named first (first spelling kept), for topping up the final list."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for keyword in keywords:
        key = " ".join(keyword.casefold().split())
        counts[key] += 1
        spelling.setdefault(key, keyword)
    return [spelling[key] for key, _ in counts.most_common()]


def load_engine(settings: SummarizerSettings) -> SummarizerEngine:
    """Load the configured backend once per process (the local one starts llama-server) and wrap it."""
    backend: LlmBackend
    if settings.engine == "openai":
        from vidpipe_summarizer.llm import OpenAICompatibleBackend

        backend = OpenAICompatibleBackend(
            base_url=settings.base_url,
            model=settings.model,
            context_tokens=settings.context_tokens,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            connect_timeout_s=settings.connect_timeout_s,
            request_timeout_s=settings.request_timeout_s,
            http_retries=settings.http_retries,
            http_backoff_s=settings.http_backoff_s,
            chars_per_token=settings.chars_per_token,
        )
    else:
        backend = load_local_backend(settings)
    return SummarizerEngine(backend, settings)


def _model_file(name: str) -> Path:
    from vidpipe_summarizer.build import SHIPPED_MODELS, assemble_model
    from vidpipe_summarizer.llama_server import LlamaServerError

    shipped = SHIPPED_MODELS.get(name)
    if shipped is None:
        raise LlamaServerError(f"unknown shipped model {name!r}; choose one of {sorted(SHIPPED_MODELS)}")
    return assemble_model(shipped)


def load_local_backend(settings: SummarizerSettings, *, extra_body: dict[str, Any] | None = None) -> LlmBackend:
    from vidpipe_summarizer.llama_server import LlamaServerProcess, LocalLlamaBackend, ThreadPolicy

    if settings.local_model_path is not None:
        model_path, alias = settings.local_model_path, settings.local_model_path.stem
    else:
        model_path, alias = _model_file(settings.local_model), settings.local_model
    policy = ThreadPolicy(settings.local_threads)
    server = LlamaServerProcess(
        binary=settings.llama_server_binary,
        model_path=model_path,
        alias=alias,
        context_tokens=settings.local_context_tokens,
        # The first server starts with what the policy says now; other counts start when first needed.
        threads=policy.threads(),
        startup_timeout_s=settings.local_startup_timeout_s,
        draft_model_path=_model_file(settings.local_draft_model) if settings.local_draft_model else None,
        draft_max_tokens=settings.local_draft_max_tokens,
        prompt_state_dir=settings.local_prompt_state_dir,
    )
    return LocalLlamaBackend(
        server,
        request_timeout_s=settings.request_timeout_s,
        http_retries=settings.http_retries,
        # return_progress: llama-server streams how far it has read the prompt (live progress).
        extra_body={"repeat_penalty": settings.local_repeat_penalty, "return_progress": True} | (extra_body or {}),
        thread_policy=policy,
    )
