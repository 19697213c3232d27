"""Keyword rules: keep only keywords grounded in the transcript; fall back to yake only when none are left.

Product rule: a keyword is shown only if every word of it occurs in the transcript (case-insensitive).
Small models paraphrase ("user experience" for a talk about buttons) or emit junk ("m-h-m-m"); a keyword
that the user cannot find in their own transcript is worse than none.

Fallback decision: yake (statistical, no model) is used *only* when none of the model's keywords survive
that rule, and only for keywords; the summary and title always come from the model, or the job fails.
Mixing the two for a partial list would make the list's origin unclear, so a result says which it used.
"""

from __future__ import annotations

from collections.abc import Iterable

from vidpipe_summarizer.transcript import words_of

MAX_KEYWORDS = 10

# Fillers that dominate raw yake output on speech ("yeah", "Mm-hmm", "make"): research section D.
FILLER_WORDS = frozenset(
    [
        "yeah",
        "yes",
        "yep",
        "no",
        "nope",
        "okay",
        "ok",
        "oh",
        "uh",
        "um",
        "uhm",
        "hmm",
        "mm",
        "mhm",
        "mm-hmm",
        "hm",
        "ah",
        "eh",
        "er",
        "erm",
        "huh",
        "right",
        "well",
        "like",
        "so",
        "just",
        "really",
        "actually",
        "basically",
        "know",
        "think",
        "mean",
        "guess",
        "gonna",
        "wanna",
        "kinda",
        "sorta",
        "thing",
        "things",
        "stuff",
        "something",
        "make",
        "made",
        "get",
        "got",
        "go",
        "going",
        "way",
        "lot",
        "bit",
        "sure",
        "maybe",
        "kind",
        "sort",
        "also",
        "even",
        "still",
        "yeah-yeah",
        "alright",
    ]
)


def _normalise(keyword: str) -> str:
    return " ".join(keyword.split()).strip(" .,;:!?\"'()[]{}")


def grounded_keywords(candidates: Iterable[str], vocabulary: set[str], *, limit: int = MAX_KEYWORDS) -> list[str]:
    """Candidates whose every word is in `vocabulary`, de-duplicated case-insensitively, in order."""
    kept: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        keyword = _normalise(candidate)
        words = words_of(keyword)
        key = " ".join(words)
        if not words or key in seen or len(keyword) < 2:
            continue
        if all(word in vocabulary for word in words) and not all(word in FILLER_WORDS for word in words):
            kept.append(keyword)
            seen.add(key)
        if len(kept) == limit:
            break
    return kept


def yake_keywords(text: str, language: str | None, vocabulary: set[str], *, limit: int = MAX_KEYWORDS) -> list[str]:
    import yake  # lazy: only the fallback needs it

    extractor = yake.KeywordExtractor(lan=(language or "en")[:2], n=2, top=limit * 4, dedupLim=0.7)
    ranked = [phrase for phrase, _score in extractor.extract_keywords(text)]
    # Drop phrases containing any filler ("yeah sure"), then apply the same grounding rule as for the model.
    clean = [phrase for phrase in ranked if not any(word in FILLER_WORDS for word in words_of(phrase))]
    return grounded_keywords(clean, vocabulary, limit=limit)
