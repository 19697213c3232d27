"""What the model must return (JSON schema for constrained decoding) and what the stage returns.

The JSON schema sent to the server is generated from the msgspec Structs below, so the constraint the
server decodes under and the validation applied to its output cannot drift apart (one addition: the
sentence-count pattern, see below). Every string and list
is bounded: constrained decoding only yields valid JSON if generation *finishes*, and an unbounded string
lets a small model loop ("m-h-m-m-m...") until max_tokens cuts the JSON off.
"""

from __future__ import annotations

import re
import unicodedata
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
# The full-width marks end sentences only in the languages written with them. Elsewhere the grammar refuses
# them anywhere: forced past its first sentence, the 1.5B ended an English one on "？" and wrote a fragment
# after it ("... understanding of symbols？ (mobile phone) users.").
LATIN_SENTENCE_END = ".!?"
FULL_WIDTH_END_LANGUAGES = frozenset({"zh", "ja"})
_SENTENCE_CHAR = rf'([^{SENTENCE_END}"\\\x00-\x1f]|[.][^ {SENTENCE_END}"\\\x00-\x1f])'
# A sentence starts with anything but a lowercase ASCII letter or a space: with only the end mark to go
# by, a small model forced past its first sentence split one ("... to take_? actions for their country.").
_SENTENCE_START = rf'[^a-z {SENTENCE_END}"\\\x00-\x1f]'
# The 1.5B writes run-on first sentences: at 140 characters the grammar ended 2 of 6 test summaries
# mid-clause ("... display,.", "... simplicity,易. Understandability, and user-friendliness."); at 200, 1
# of 6, for 6-32 more tokens on the three that ran longer. A sentence the cap still ends is mended
# (`mend_cut_sentences`).
SENTENCE_MAX_CHARS = 200
SUMMARY_SENTENCES = (2, 4)
CHUNK_SUMMARY_SENTENCES = (1, 3)


def sentence_ends(language: str | None) -> str:
    """The marks a sentence of a summary in `language` may end with (all of them when it is unknown)."""
    if language is None or language[:2].lower() in FULL_WIDTH_END_LANGUAGES:
        return SENTENCE_END
    return LATIN_SENTENCE_END


def sentences_pattern(low: int, high: int, *, ends: str = SENTENCE_END) -> str:
    sentence = f"{_SENTENCE_START}{_SENTENCE_CHAR}{{9,{SENTENCE_MAX_CHARS - 2}}}[{ends}]"
    return f"^{sentence}( {sentence}){{{low - 1},{high - 1}}}$"


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


def chapters_schema(parts: int, *, language: str | None = None) -> dict[str, Any]:
    """LlmSummaryWithChapters' schema asking for exactly `parts` chapter titles."""
    schema = json_schema_for(LlmSummaryWithChapters, language=language)
    schema["properties"]["chapters"] = {**schema["properties"]["chapters"], "minItems": parts, "maxItems": parts}
    return schema


def json_schema_for(struct: type[msgspec.Struct], *, language: str | None = None) -> dict[str, Any]:
    """The Struct's JSON schema, inlined (OpenAI strict mode wants an object at the top, not a `$ref`), with
    the summary's sentence-count pattern for a transcript in `language` (see `sentence_ends`)."""
    generated = msgspec.json.schema(struct)
    ref = generated.get("$ref", "")
    schema: dict[str, Any] = generated["$defs"][ref.rsplit("/", 1)[-1]] if ref else generated
    if any("$ref" in str(value) for value in schema.values()):
        raise ValueError(f"{struct.__name__} must stay flat: nested Structs would need $defs")
    if bounds := _SENTENCE_BOUNDS.get(struct.__name__):
        schema["properties"]["summary"]["pattern"] = sentences_pattern(*bounds, ends=sentence_ends(language))
    return schema


_SENTENCE_BREAK = re.compile(rf"(?<=[{SENTENCE_END}])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences as the pattern counts them: a sentence ends at . ! ? followed by white space or the end."""
    return [part for part in _SENTENCE_BREAK.split(" ".join(text.split())) if part]


def bound_sentences(text: str, high: int) -> str:
    """`text` with single spaces, cut after its `high`-th sentence."""
    return " ".join(split_sentences(text)[:high])


# A sentence this close to the cap may have been ended by the grammar rather than by the model: a word that no
# longer fits leaves the model only an end mark or a one-character token ("simplicity,易."). It is mended only
# on evidence of a cut, since the model also ends sentences there by itself.
_CUT_SLACK_CHARS = 5
_TRAILING_PUNCTUATION = re.compile(r"[\s,;:，、；：\-–—]+$")
_LAST_WORD = re.compile(r"\w+$")
_LETTER = re.compile(r"[^\W\d_]")
# Where an English clause ends inside a sentence: a comma, semicolon or colon before a space (not "1,000" or
# "10:30"), or a dash between spaces.
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s)|\s[-–—](?=\s)")
# Words an English sentence does not end on: what a cut leaves ("for ease of.", "with a and."). Prepositions
# that end questions and relative clauses ("what it is for", "who they spoke to") and verbs are not here.
_DANGLING_ENGLISH_WORDS = (
    "a an the of and or but nor than that which whose its their his her our your my such if while because "
    "including into onto"
)
_DANGLING_ENGLISH = frozenset(_DANGLING_ENGLISH_WORDS.split())


def mend_cut_sentences(text: str, *, english: bool) -> str:
    """`text` with each sentence the length cap ended mid-clause ended at a clause instead.

    Only a sentence within a few characters of the cap that shows the cut is touched: one that ends on a comma
    (or other clause mark) or on a one-character word in another script ends before it, the clause before
    being complete; one exactly as long as the cap, or (English) ending on a word a sentence does not end on,
    ends at its last clause break if that keeps at least 40 % of it, else (English) without such words.
    Text without end marks (a server that ignores the pattern) and a sentence that would come out shorter
    than 10 characters are kept as they are."""
    return " ".join(
        _mend(sentence, english=english)
        if SENTENCE_MAX_CHARS - _CUT_SLACK_CHARS <= len(sentence) <= SENTENCE_MAX_CHARS and sentence[-1] in SENTENCE_END
        else sentence
        for sentence in split_sentences(text)
    )


def _mend(sentence: str, *, english: bool) -> str:
    end_mark, body = sentence[-1], sentence[:-1].rstrip()
    last = _LAST_WORD.search(body)
    if last and _is_escape(last.group(), body):
        mended = _TRAILING_PUNCTUATION.sub("", body[: last.start()])
    elif (stripped := _TRAILING_PUNCTUATION.sub("", body)) != body:
        mended = stripped
    else:
        dangling = english and last is not None and last.group().casefold() in _DANGLING_ENGLISH
        # A sentence exactly as long as the cap is a cut too: the model rarely ends one there by itself.
        if not dangling and len(sentence) < SENTENCE_MAX_CHARS:
            return sentence
        mended = _TRAILING_PUNCTUATION.sub("", _end_at_clause(body, english=english))
    if len(mended) < 10:
        return sentence
    # "... etc.," ends on its own mark.
    return mended if mended[-1] in SENTENCE_END else mended + end_mark


def _end_at_clause(body: str, *, english: bool) -> str:
    """`body` up to its last clause break if that keeps 40 % of it, else (English) without its dangling last
    words; other languages keep theirs (German ends sentences on "an")."""
    breaks = [match.start() for match in _CLAUSE_BREAK.finditer(body) if _outside_brackets(body, match.start())]
    if breaks and breaks[-1] >= 0.4 * len(body):
        return body[: breaks[-1]]
    if not english:
        return body
    words = body.split()
    while len(words) > 1 and words[-1].casefold() in _DANGLING_ENGLISH:
        words.pop()
    return " ".join(words)


def _is_escape(word: str, text: str) -> bool:
    """A one-character word in another script than the rest: the model's way out of the cap ("易")."""
    if len(word) != 1 or word.isascii() or unicodedata.name(word, "").startswith("LATIN"):
        return False
    letters: list[str] = _LETTER.findall(text)
    ascii_letters = sum(letter.isascii() for letter in letters)
    return ascii_letters > 0.8 * len(letters)


def _outside_brackets(text: str, index: int) -> bool:
    before = text[:index]
    return before.count("(") == before.count(")") and before.count("[") == before.count("]")


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
