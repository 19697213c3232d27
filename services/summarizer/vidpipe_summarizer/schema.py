"""What the model must return (JSON schema for constrained decoding) and what the stage returns.

The JSON schema sent to the server is generated from the msgspec Structs below, so the constraint the
server decodes under and the validation applied to its output cannot drift apart (one addition: the
sentence-count pattern, see below). Every string and list
is bounded: constrained decoding only yields valid JSON if generation *finishes*, and an unbounded string
lets a small model loop ("m-h-m-m-m...") until max_tokens cuts the JSON off.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

# Sentence counts are sent as part of the schema, as a pattern on "summary", so a constrained decoder
# (llama.cpp's grammar, vLLM's guided decoding) cannot stop after one sentence or run on past four. A sentence
# is 10 to SENTENCE_MAX_CHARS characters ending in . ! ? (or their CJK forms); sentences are joined by one
# space. A "." inside a sentence must be followed by a non-space ("1.5", "e.g.,"), so "Mr. Smith" counts as two
# sentences: the price of a pattern simple enough for every grammar engine (plain groups and classes: no
# `(?:`, no `\.`, which llama-cpp-python's converter refuses). Quotes, backslashes and control characters
# are excluded so that the raw JSON the grammar emits is valid and decodes to the same characters. llama.cpp
# ignores maxLength when a pattern is given, so the pattern alone bounds the output; max_length mirrors it
# (sentences x SENTENCE_MAX_CHARS + the spaces between) for max_tokens.
# The pattern is not part of msgspec's validation: a server that ignores it (no guided decoding) gets its
# summary cut to the sentence limit by `bound_sentences` instead of failing the job on a style rule.
SENTENCE_END = ".!?。！？"
_SENTENCE_CHAR = rf'([^{SENTENCE_END}"\\\x00-\x1f]|[.][^ {SENTENCE_END}"\\\x00-\x1f])'
# A sentence starts with anything but a lowercase ASCII letter or a space: with only the end mark to go
# by, a small model forced past its first sentence split one ("... to take_? actions for their country.").
_SENTENCE_START = rf'[^a-z {SENTENCE_END}"\\\x00-\x1f]'
# The 1.5B writes run-on first sentences: at 140 characters the grammar ended 2 of 6 test summaries
# mid-clause ("... display,.", "... simplicity,易. Understandability, and user-friendliness."); at 200, 1
# of 6, for 6-32 more tokens on the three that ran longer. A sentence the cap still ends is mended
# (`mend_cut_sentences`).
SENTENCE_MAX_CHARS = 200
_SENTENCE = f"{_SENTENCE_START}{_SENTENCE_CHAR}{{9,{SENTENCE_MAX_CHARS - 2}}}[{SENTENCE_END}]"
SUMMARY_SENTENCES = (2, 4)
CHUNK_SUMMARY_SENTENCES = (1, 3)


def sentences_pattern(low: int, high: int) -> str:
    return f"^{_SENTENCE}( {_SENTENCE}){{{low - 1},{high - 1}}}$"


def _max_chars(sentences: int) -> int:
    return sentences * SENTENCE_MAX_CHARS + sentences - 1


SUMMARY_MIN_CHARS, SUMMARY_MAX_CHARS = 40, _max_chars(SUMMARY_SENTENCES[1])
CHUNK_SUMMARY_MIN_CHARS, CHUNK_SUMMARY_MAX_CHARS = 20, _max_chars(CHUNK_SUMMARY_SENTENCES[1])
TITLE_MIN_CHARS, TITLE_MAX_CHARS = 3, 80
SummaryText = Annotated[
    str,
    msgspec.Meta(
        min_length=SUMMARY_MIN_CHARS,
        max_length=SUMMARY_MAX_CHARS,
        description="2 to 4 sentences on what was discussed.",
    ),
]
ChunkSummaryText = Annotated[
    str,
    msgspec.Meta(
        min_length=CHUNK_SUMMARY_MIN_CHARS,
        max_length=CHUNK_SUMMARY_MAX_CHARS,
        description="1 to 3 sentences on this part.",
    ),
]
Title = Annotated[
    str, msgspec.Meta(min_length=TITLE_MIN_CHARS, max_length=TITLE_MAX_CHARS, description="A short title.")
]
Keyword = Annotated[str, msgspec.Meta(min_length=2, max_length=30)]
Keywords = Annotated[
    list[Keyword],
    msgspec.Meta(min_length=5, max_length=10, description="Topic words or short phrases used in the text."),
]
ChunkKeywords = Annotated[
    list[Keyword],
    msgspec.Meta(min_length=1, max_length=8, description="Topic words or short phrases used in the text."),
]


class LlmSummary(msgspec.Struct, forbid_unknown_fields=True):
    """The model's summary of a whole transcript (single pass or the reduce step)."""

    # Order matters: the model writes the summary first, then condenses it into a title.
    summary: SummaryText
    title: Title
    keywords: Keywords


class LlmChunkNotes(msgspec.Struct, forbid_unknown_fields=True):
    """The model's notes on one chunk (the map step); the title becomes the chapter title."""

    summary: ChunkSummaryText
    title: Title
    keywords: ChunkKeywords


# At most this many chapters in one pass (the settings' max_chapters is 12 by default).
MAX_ONE_PASS_CHAPTERS = 24
ChapterTitles = Annotated[list[Title], msgspec.Meta(min_length=1, max_length=MAX_ONE_PASS_CHAPTERS)]


class LlmSummaryWithChapters(msgspec.Struct, forbid_unknown_fields=True):
    """A whole transcript that fits the context, in parts: the summary plus one chapter title per part (the
    schema sent asks for exactly as many titles as there are parts)."""

    summary: SummaryText
    title: Title
    keywords: Keywords
    chapters: ChapterTitles


LlmOutput = LlmSummary | LlmChunkNotes | LlmSummaryWithChapters


_SENTENCE_BOUNDS: dict[str, tuple[int, int]] = {
    "LlmSummary": SUMMARY_SENTENCES,
    "LlmChunkNotes": CHUNK_SUMMARY_SENTENCES,
    "LlmSummaryWithChapters": SUMMARY_SENTENCES,
}


def chapters_schema(parts: int) -> dict[str, Any]:
    """LlmSummaryWithChapters' schema asking for exactly `parts` chapter titles."""
    schema = json_schema_for(LlmSummaryWithChapters)
    schema["properties"]["chapters"] = {**schema["properties"]["chapters"], "minItems": parts, "maxItems": parts}
    return schema


def json_schema_for(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The Struct's JSON schema, inlined (OpenAI strict mode wants an object at the top, not a `$ref`), with
    the summary's sentence-count pattern."""
    generated = msgspec.json.schema(struct)
    ref = generated.get("$ref", "")
    schema: dict[str, Any] = generated["$defs"][ref.rsplit("/", 1)[-1]] if ref else generated
    if any("$ref" in str(value) for value in schema.values()):
        raise ValueError(f"{struct.__name__} must stay flat: nested Structs would need $defs")
    if bounds := _SENTENCE_BOUNDS.get(struct.__name__):
        schema["properties"]["summary"]["pattern"] = sentences_pattern(*bounds)
    return schema


_SENTENCE_BREAK = re.compile(rf"(?<=[{SENTENCE_END}])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences as the pattern counts them: a sentence ends at . ! ? followed by white space or the end."""
    return [part for part in _SENTENCE_BREAK.split(" ".join(text.split())) if part]


def bound_sentences(text: str, high: int) -> str:
    """`text` with single spaces, cut after its `high`-th sentence."""
    return " ".join(split_sentences(text)[:high])


# A sentence this close to the cap was (most likely) ended by the grammar, not by the model: a word that no
# longer fits leaves the model only an end mark or a one-character token ("simplicity,易.").
_CUT_SLACK_CHARS = 5
# Latin punctuation breaks a clause when a space follows it ("1,000" and "10:30" do not); CJK text has no spaces.
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s|$)|[，、；：]|\s[-–—](?=\s)")
_TRAILING_PUNCTUATION = re.compile(r"[\s,;:，、；：\-–—]+$")
_LAST_WORD = re.compile(r"\w+$")
_LETTER = re.compile(r"[^\W\d_]")
# Words an English clause cannot end on; what a cut most often leaves ("for ease of.", "with a.").
_DANGLING_ENGLISH_WORDS = (
    "a an the of for to and or but nor with without in on at by from as than that which who whose whom its "
    "their his her our your my this these those into onto about like such so if while because including "
    "between among through over under is are was were be been"
)
_DANGLING_ENGLISH = frozenset(_DANGLING_ENGLISH_WORDS.split())


def mend_cut_sentences(text: str, *, english: bool) -> str:
    """`text` with each sentence the length cap ended mid-clause ended at a clause instead: where the cut came
    right after a comma the clause before it is complete; otherwise the sentence ends at its last clause
    break if that keeps at least 40 % of it, or (English) without the words a clause cannot end on. Other
    sentences, and a sentence that would come out shorter than 10 characters, are kept as they are."""
    sentences = split_sentences(text)
    return " ".join(
        _mend(sentence, english=english) if len(sentence) >= SENTENCE_MAX_CHARS - _CUT_SLACK_CHARS else sentence
        for sentence in sentences
    )


def _mend(sentence: str, *, english: bool) -> str:
    end_mark, body = sentence[-1], sentence[:-1].rstrip()
    last = _LAST_WORD.search(body)
    # A one-character word in another script right before the cut is the model's way out of the cap.
    if last and len(last.group()) == 1 and not last.group().isascii() and _mostly_ascii(body):
        body = body[: last.start()]
    stripped = _TRAILING_PUNCTUATION.sub("", body)
    if stripped == body:
        breaks = [match.start() for match in _CLAUSE_BREAK.finditer(body)]
        if breaks and breaks[-1] >= 0.4 * len(body):
            stripped = body[: breaks[-1]]
        elif english:
            words = body.split()
            while len(words) > 1 and words[-1].casefold() in _DANGLING_ENGLISH:
                words.pop()
            stripped = " ".join(words)
    stripped = _TRAILING_PUNCTUATION.sub("", stripped)
    return stripped + end_mark if len(stripped) >= 9 else sentence


def _mostly_ascii(text: str) -> bool:
    letters = _LETTER.findall(text)
    return sum(letter.isascii() for letter in letters) > 0.8 * len(letters)


def worst_case_output_tokens(schema: dict[str, Any]) -> int:
    """Upper bound on tokens for any document the schema allows: every character one token, plus syntax.

    Used as max_tokens so the server never truncates a still-valid generation, and reserved from the
    context window when chunking.
    """

    def chars(node: dict[str, Any]) -> int:
        kind = node.get("type")
        if kind == "string":
            return int(node["maxLength"]) + 2
        if kind == "array":
            items = int(node["maxItems"])
            return 2 + items * (chars(node["items"]) + 2)
        if kind == "object":
            return 2 + sum(len(name) + 4 + chars(sub) for name, sub in node["properties"].items())
        raise ValueError(f"unbounded schema node {node!r}")

    # Grammars allow a little whitespace between tokens; 10 % covers it.
    return int(chars(schema) * 1.1) + 16


class Chapter(msgspec.Struct, frozen=True, kw_only=True):
    start: float
    """Seconds from the start of the media."""
    title: str


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """The stage's result: what the handler stores and `vidpipe summarize` prints."""

    title: Title
    summary: SummaryText
    keywords: Annotated[list[Keyword], msgspec.Meta(max_length=10)]
    """Ranked topic phrases whose words occur in the transcript: 5 to 10, fewer only when the transcript has
    fewer distinct content words (see keywords.py)."""
    chapters: list[Chapter]
    """Empty for transcripts shorter than the chapter threshold (5 minutes by default)."""
    language: str | None
    model: str
    """Which model wrote it, for provenance next to the stored result."""
    keywords_source: Literal["model", "yake", "model+yake"]
    """Who chose the keywords: the model alone, yake alone, or the model's topped up by yake's."""
    chunk_count: int
    """1 for a single pass; more when the transcript was summarised map-reduce."""


summary_encoder = msgspec.json.Encoder()
summary_decoder = msgspec.json.Decoder(Summary)
