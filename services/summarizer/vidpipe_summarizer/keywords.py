"""Keyword rules: 5 to 10 ranked topic phrases, every word of them from the transcript.

Product rules:
- Grounded: a keyword is shown only if every word of it occurs in the transcript (case-insensitive, up to a
  plural "s"/"es": the model's "backgrounds" for a speaker's "background" is the same topic). Small models
  paraphrase ("user experience" for a talk about buttons) or emit junk ("m-h-m-m"); a keyword the user cannot
  find in their own transcript is worse than none.
- A topic phrase, not a sentence fragment: at most three words once function words at its edges are
  trimmed ("your country" -> "country"), no clause punctuation inside, and a candidate of more than four
  words is a fragment however it is trimmed ("ask what you can do for your"). In English a phrase with an
  "-ly" adverb ("necessarily understand") or joined by "to" ("meant to understand") is a piece of a
  sentence too; yake proposes such n-grams from speech.
- 5 to 10, ranked: the model's keywords first, in its order (it is asked for the most important first),
  then the chunk notes' keywords (long transcripts), then yake's keyphrases over the transcript in yake's
  order, then the transcript's remaining content words by frequency. Fewer than 5 only when the transcript
  itself has fewer distinct content words (an 11-second clip can have four).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources

from vidpipe_summarizer.transcript import words_of

MIN_KEYWORDS = 5
MAX_KEYWORDS = 10
# Content words left once edge function words are trimmed; a candidate longer than MAX_CANDIDATE_WORDS
# before trimming is a clause, not a topic.
MAX_PHRASE_WORDS = 3
MAX_CANDIDATE_WORDS = 4
# What a stored keyword may hold (schema.Keyword); longer phrases are not shown.
MAX_KEYWORD_CHARS = 30


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Fillers that dominate raw yake output on speech ("yeah", "Mm-hmm", "make"): research section D.
FILLER_WORDS = _words(
    """yeah yes yep no nope okay ok oh uh um uhm hmm mm mhm mm-hmm hm ah eh er erm huh right well like so just
    hello hi hey bye goodbye
    really actually basically know think mean guess gonna wanna kinda sorta thing things stuff something make
    made get got go going way lot bit sure maybe kind sort also even still yeah-yeah alright"""
)

# Verbs of talking and thinking: in a transcript they are everywhere and never the topic, so yake's n-grams
# around them ("meant to understand") and single-word fill-ins ("understand") are dropped. "ask" stays: it can
# be what a speech is about (JFK's "ask not").
SPEECH_VERBS = _words(
    """say says said saying tell tells told telling talk talks talked talking understand understands understood
    meant thought knew known want wants wanted see sees saw seen hear hears heard asked try tries tried trying
    come comes came coming look looks looked looking feel feels felt seem seems seemed happen happened remember
    believe"""
)

# English closed-class words (articles, pronouns, prepositions, conjunctions, auxiliaries and modals, a few
# adverbs). Deliberately not yake's English stoplist, which also lists content words such as "ask", "help"
# and "value" that are fine topics. Other languages use yake's list for their language.
ENGLISH_FUNCTION_WORDS = _words(
    """a an the this that these those my your his her its our their mine yours hers ours theirs i me you he she it
    we they him us them myself yourself himself herself itself ourselves themselves who whom whose which what
    whatever whoever where when why how there here and or but nor if then than because as while although though
    unless until since so yet of in on at by for with without from to into onto upon about above below over
    under between among through during before after against across along around off out up down near via per is
    am are was were be been being have has had having do does did doing done will would shall should can could
    may might must ought not no nor all any both each every either neither some such very too more most less
    much many few other another own same only also again just even ever never now once whether let lets s t don
    doesn didn isn aren wasn weren won wouldn couldn shouldn can't don't i'm it's that's there's let's"""
)

# A keyword with a sentence or clause break inside is a fragment; keyword-internal hyphens, apostrophes
# and underscores ("L_C_D_", "mobile-phone", "Kennedy's") are fine.
_CLAUSE_BREAK = re.compile(r"[,;:.!?()\[\]{}\"“”]")
_EDGE_PUNCTUATION = " \t\n.,;:!?\"'()[]{}“”‘’"


def language_code(language: str | None) -> str:
    """The two-letter code of a transcript language ("en" for "en-US"); unknown counts as English, the
    local model's language."""
    return (language or "en")[:2].lower()


@functools.cache
def function_words(language: str | None) -> frozenset[str]:
    """Words that never start or end a keyword: the English list above, else yake's list for the language."""
    code = language_code(language)
    if code == "en":
        return ENGLISH_FUNCTION_WORDS | FILLER_WORDS | SPEECH_VERBS
    stoplist = resources.files("yake").joinpath("core", "StopwordsList", f"stopwords_{code}.txt")
    if not stoplist.is_file():
        return ENGLISH_FUNCTION_WORDS | FILLER_WORDS
    # yake itself falls back to ISO-8859-1 for lists that are not UTF-8.
    words = stoplist.read_bytes().decode("utf-8", errors="replace").lower().split()
    return frozenset(words) | FILLER_WORDS


# English function words that may join a phrase's content words ("state of the union", "time and cost");
# any other inside ("phone is complicated", "ask what you can", "meant to understand") makes it a clause.
PHRASE_GLUE = _words("of the a an and for in on with")

# English words ending in "-ly" that are not adverbs, so they may be part of a topic ("assembly line").
# Capitalised words (names: "Italy", "Beverly") are never taken for adverbs.
_LY_NOUNS = _words(
    """anomaly assembly belly bully butterfly dragonfly family firefly folly holy homily italy jelly lily
    monopoly oligopoly panoply rally reply supply tally ugly wholly"""
)


def _is_adverb(token: str) -> bool:
    """An English "-ly" adverb ("necessarily", "quickly"), told apart from nouns by length and a short list."""
    word = token.strip(_EDGE_PUNCTUATION)
    return len(word) >= 6 and word.islower() and word.endswith("ly") and word not in _LY_NOUNS


def topic_phrase(candidate: str, stopwords: frozenset[str], *, english: bool = True) -> str | None:
    """`candidate` as a topic phrase (edge function words trimmed), or None if it is a fragment or empty."""
    text = " ".join(candidate.split()).strip(_EDGE_PUNCTUATION)
    if not text or _CLAUSE_BREAK.search(text):
        return None
    tokens = text.split(" ")
    if len(tokens) > MAX_CANDIDATE_WORDS:
        return None

    def is_function(token: str) -> bool:
        words = words_of(token)
        return not words or all(word in stopwords for word in words)

    while tokens and is_function(tokens[0]):
        tokens.pop(0)
    while tokens and is_function(tokens[-1]):
        tokens.pop()
    content = [token for token in tokens if not is_function(token)]
    inside = [token.casefold() for token in tokens if is_function(token)]
    if not content or len(content) > MAX_PHRASE_WORDS:
        return None
    # Elsewhere than English, one stopword inside is allowed (no glue list per language).
    if (english and not set(inside) <= PHRASE_GLUE) or (not english and len(inside) > 1):
        return None
    if english and any(_is_adverb(token) for token in content):
        return None
    phrase = " ".join(token.strip(_EDGE_PUNCTUATION) or token for token in tokens)
    return phrase if 2 <= len(phrase) <= MAX_KEYWORD_CHARS else None


def grounded_keywords(
    candidates: Iterable[str],
    vocabulary: set[str],
    *,
    language: str | None = None,
    limit: int = MAX_KEYWORDS,
    already: Sequence[str] = (),
    distinct: bool = False,
) -> list[str]:
    """Candidates that are topic phrases made of `vocabulary` words, in order, at most `limit` of them
    (counting `already`). Duplicates of a kept keyword or of `already` are skipped: the same words up to
    case and a plural "s"; with `distinct`, also a phrase inside another or containing it ("mobile" beside
    "mobile phone")."""
    stopwords = function_words(language)
    english = language_code(language) == "en"
    seen = {_key(keyword) for keyword in already}
    seen_words = [set(_key(keyword).split()) for keyword in already]
    kept: list[str] = []
    for candidate in candidates:
        if len(already) + len(kept) >= limit:
            break
        phrase = topic_phrase(candidate, stopwords, english=english)
        if phrase is None:
            continue
        key = _key(phrase)
        if key in seen or not all(_heard(word, vocabulary) for word in words_of(phrase)):
            continue
        if distinct and any(set(key.split()) <= other or other <= set(key.split()) for other in seen_words):
            continue
        kept.append(phrase)
        seen.add(key)
        seen_words.append(set(key.split()))
    return kept


def _heard(word: str, vocabulary: set[str]) -> bool:
    """`word` (case-folded) or its singular or plural form ("s", "es") is in the transcript."""
    forms = {word, f"{word}s", f"{word}es"}
    if word.endswith("s"):
        forms.add(word[:-1])
    if word.endswith("es"):
        forms.add(word[:-2])
    return not forms.isdisjoint(vocabulary)


def _key(keyword: str) -> str:
    """What two spellings of one keyword share: case-folded words, a plural "s" dropped ("Menus" = "menu")."""
    return " ".join(
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words_of(keyword)
    )


def yake_keywords(text: str, language: str | None, vocabulary: set[str], *, limit: int = MAX_KEYWORDS) -> list[str]:
    """yake's keyphrases of `text`, best first, under the same rules as the model's keywords."""
    import yake  # lazy: only the top-up needs it

    extractor = yake.KeywordExtractor(
        lan=language_code(language),
        n=MAX_PHRASE_WORDS,
        top=limit * 4,
        dedup_lim=0.7,
        stopwords=set(function_words(language)),
    )
    ranked = [phrase for phrase, _score in extractor.extract_keywords(text)]
    whole = [phrase for phrase in ranked if not cuts_a_name(phrase, text)]
    return grounded_keywords(whole, vocabulary, language=language, limit=limit)


def cuts_a_name(phrase: str, text: str) -> bool:
    """yake's n-grams ignore where a name ends: "Diane in New" out of "Diane in New Jersey". A phrase that
    starts or ends with a capitalised word which, wherever the phrase occurs, runs on into (or follows) another
    capitalised word is half a name."""
    words = phrase.split()
    if not words:
        return False
    ends_capital, starts_capital = words[-1][:1].isupper(), words[0][:1].isupper()
    if not (ends_capital or starts_capital):
        return False
    found = list(re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", text))
    if not found:
        return False

    def runs_on(match: re.Match[str]) -> bool:
        after = re.match(r"\s+(\w+)", text[match.end() :])
        before = re.search(r"(\w+)\s+$", text[: match.start()])
        return bool(
            (ends_capital and after and after.group(1)[:1].isupper())
            or (starts_capital and before and before.group(1)[:1].isupper() and before.group(1) != "I")
        )

    return all(runs_on(match) for match in found)


def content_words_by_frequency(text: str, language: str | None) -> list[str]:
    """The text's words that can stand alone as a keyword, most frequent first (ties: first heard first),
    each in its first spelling."""
    stopwords = function_words(language)
    spelling: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for match in re.finditer(r"\w+(?:['-]\w+)*", text):
        token = match.group(0)
        key = token.casefold()
        if key in stopwords or len(key) < 2 or key.isdigit():
            continue
        spelling.setdefault(key, token)
        counts[key] += 1
    order = {key: index for index, key in enumerate(spelling)}
    return [spelling[key] for key in sorted(counts, key=lambda k: (-counts[k], order[k]))]


def rank_keywords(
    model_keywords: Sequence[str],
    chunk_keywords: Sequence[str],
    *,
    text: str,
    language: str | None,
    vocabulary: set[str],
    use_yake: bool = True,
) -> tuple[list[str], int]:
    """The final keyword list (see the module rules) and how many of its first entries are the model's."""
    keywords = grounded_keywords([*model_keywords, *chunk_keywords], vocabulary, language=language)
    from_model = len(keywords)
    if len(keywords) >= MIN_KEYWORDS or not use_yake:
        return keywords, from_model
    phrases = yake_keywords(text, language, vocabulary)
    keywords += grounded_keywords(phrases, vocabulary, language=language, already=keywords, distinct=True)
    # Last resort for short transcripts: phrases and single content words that overlap ones already chosen
    # ("fellow Americans" beside the model's "American", "Americans" beside "fellow Americans").
    for candidates in (phrases, content_words_by_frequency(text, language)):
        if len(keywords) < MIN_KEYWORDS:
            keywords += grounded_keywords(
                candidates, vocabulary, language=language, limit=MIN_KEYWORDS, already=keywords
            )
    return keywords, from_model
