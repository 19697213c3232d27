"""Pure logic: the schema sent for constrained decoding, its agreement with msgspec validation, keyword
grounding and how transcripts are shown to the model."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from vidpipe_summarizer.keywords import (
    MAX_KEYWORDS,
    MIN_KEYWORDS,
    cuts_a_name,
    function_words,
    grounded_keywords,
    rank_keywords,
    topic_phrase,
    yake_keywords,
)
from vidpipe_summarizer.schema import (
    SENTENCE_MAX_CHARS,
    SUMMARY_MAX_CHARS,
    LlmChunkNotes,
    LlmSummary,
    bound_sentences,
    json_schema_for,
    mend_cut_sentences,
    worst_case_output_tokens,
)
from vidpipe_summarizer.transcript import Transcript, TranscriptSegment, speaker_turns, vocabulary, words_of

jsonschema = pytest.importorskip("jsonschema")

GOOD = {
    "summary": "The team discusses a simpler remote control. It would have a small menu display like a phone.",
    "title": "Remote control design",
    "keywords": ["remote control", "menu", "display", "phone", "buttons"],
}


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [node]
    for sub in node.get("properties", {}).values():
        nodes += walk(sub)
    if "items" in node:
        nodes += walk(node["items"])
    return nodes


@pytest.mark.parametrize("struct", [LlmSummary, LlmChunkNotes])
def test_every_string_and_list_is_bounded(struct: type[msgspec.Struct]) -> None:
    # Unbounded strings let a small model loop until max_tokens cuts the JSON: every node must be bounded.
    schema = json_schema_for(struct)
    assert "$ref" not in json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    for node in walk(schema):
        if node["type"] == "string":
            assert 0 < node["minLength"] <= node["maxLength"], node
        if node["type"] == "array":
            assert 0 < node["minItems"] <= node["maxItems"], node


@pytest.mark.parametrize(
    "document",
    [
        GOOD,
        {**GOOD, "summary": "Too short."},
        {**GOOD, "summary": "x" * (SUMMARY_MAX_CHARS + 1)},
        {**GOOD, "title": "ab"},
        {**GOOD, "keywords": GOOD["keywords"][:4]},
        {**GOOD, "keywords": [f"keyword {i}" for i in range(11)]},
        {**GOOD, "keywords": [*GOOD["keywords"][:4], "k"]},
        {**GOOD, "keywords": [*GOOD["keywords"][:4], "k" * 31]},
        {**GOOD, "extra": "field"},
        {key: value for key, value in GOOD.items() if key != "title"},
        {**GOOD, "keywords": "remote control"},
    ],
)
def test_msgspec_validation_agrees_with_the_json_schema(document: dict[str, Any]) -> None:
    # The sentence pattern is the schema's one addition over msgspec (tested on its own below)
    schema = json_schema_for(LlmSummary)
    del schema["properties"]["summary"]["pattern"]
    schema_says_valid = jsonschema.Draft202012Validator(schema).is_valid(document)
    try:
        msgspec.json.decode(json.dumps(document), type=LlmSummary)
        msgspec_says_valid = True
    except msgspec.ValidationError:
        msgspec_says_valid = False
    assert schema_says_valid == msgspec_says_valid
    assert schema_says_valid == (document == GOOD)


@pytest.mark.parametrize("struct", [LlmSummary, LlmChunkNotes])
def test_max_tokens_covers_the_largest_allowed_document(struct: type[msgspec.Struct]) -> None:
    schema = json_schema_for(struct)
    largest = {
        name: (
            ["k" * node["items"]["maxLength"]] * node["maxItems"]
            if node["type"] == "array"
            else "s" * node["maxLength"]
        )
        for name, node in schema["properties"].items()
    }
    assert len(json.dumps(largest)) <= worst_case_output_tokens(schema)


JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.mark.parametrize(
    ("summary", "valid"),
    [
        (GOOD["summary"], True),
        ("The team discusses a simpler remote control with a small menu display like a phone.", False),
        ("Alice wants fewer buttons. Bob agrees with her. They pick a menu. It shows on a small screen.", True),
        ("Alice wants fewer buttons. Bob agrees with her. They pick a menu. It shows on a screen. Then lunch.", False),
        ("The model has 1.5 billion parameters. It runs on e.g., a laptop.", True),
        ('Alice says "no" to that. Bob agrees with her.', False),
        # Qwen 1.5B's way out of a one-sentence answer, seen on the JFK clip: a "?" inside a word
        ("The speaker encourages citizens to take_? actions for their country.", False),
    ],
)
def test_summary_pattern_allows_two_to_four_sentences(summary: str, valid: bool) -> None:
    # Given the schema sent to the server, whose pattern is what a grammar-constrained decoder can produce
    validator = jsonschema.Draft202012Validator(json_schema_for(LlmSummary))
    # Then 1 or 5 sentences, or a quote (raw JSON and the text would differ), are refused
    assert validator.is_valid({**GOOD, "summary": summary}) == valid


@pytest.mark.parametrize(
    ("language", "summary", "valid"),
    [
        # The 1.5B's way out in a pipeline run: a full-width "？" ends an English sentence, a fragment follows
        ("en", "They discuss menus for easier understanding of symbols？ (mobile phone) users.", False),
        ("en", "They discuss menus for easier browsing？ Mobile phones have them too.", False),
        ("de", "Sie sprechen über Menüs？ Handys haben sie auch.", False),
        ("en", "They discuss menus for easier browsing. Mobile phones have them too.", True),
        # (the grammar joins sentences with a space in every language)
        ("zh", "他们讨论了遥控器的设计以及如何让用户更容易地使用它。 他们建议使用类似手机的菜单显示屏。", True),
        ("ja", "彼らはリモコンの設計と使いやすさについて話し合いました！ メニュー表示を提案しましたか？", True),
        (None, "他们讨论了遥控器的设计以及如何让用户更容易地使用它。 They suggest menus like on mobile phones.", True),
    ],
)
def test_full_width_end_marks_end_sentences_only_in_languages_written_with_them(
    language: str | None, summary: str, valid: bool
) -> None:
    validator = jsonschema.Draft202012Validator(json_schema_for(LlmSummary, language=language))
    assert validator.is_valid({**GOOD, "summary": summary}) == valid


def test_chunk_notes_allow_one_to_three_sentences() -> None:
    validator = jsonschema.Draft202012Validator(json_schema_for(LlmChunkNotes))
    notes = {"title": "Buttons", "keywords": ["buttons"]}
    assert validator.is_valid({**notes, "summary": "They talk about buttons and a menu display."})
    assert not validator.is_valid({**notes, "summary": "One about buttons. Two about menus. Three on a phone. Four."})


def test_bound_sentences_cuts_after_the_limit() -> None:
    text = "First sentence here.  Second one?\nThird one! Fourth one. Fifth one."
    assert bound_sentences(text, 4) == "First sentence here. Second one? Third one! Fourth one."
    assert bound_sentences("No end mark at all", 4) == "No end mark at all"


@pytest.mark.parametrize(
    ("candidate", "phrase"),
    [
        ("your country", "country"),  # edge function words trimmed
        ("Ask not", "Ask"),
        ("fellow Americans", "fellow Americans"),
        ("state of the union", "state of the union"),  # glue words inside a phrase are fine
        ("L_C_D_ display", "L_C_D_ display"),
        ("mobile-phone", "mobile-phone"),
        ("ask what you can do for your", None),  # the fragments: clauses, not topics
        ("ask what your country can do", None),
        ("phone is complicated", None),
        ("remote control, menu", None),  # two keywords in one
        ("for your", None),  # nothing left
        ("a very long remote control name", None),
        ("meant to understand", None),  # yake's n-grams of speech: verb phrases, not topics
        ("necessarily understand", None),
        ("assembly line", "assembly line"),  # an "-ly" noun is not an adverb
        ("Beverly Hills", "Beverly Hills"),
    ],
)
def test_topic_phrase_trims_or_refuses_fragments(candidate: str, phrase: str | None) -> None:
    assert topic_phrase(candidate, function_words("en")) == phrase


def test_jfk_gets_five_topic_keywords_even_when_the_model_gives_fragments() -> None:
    # Given the demo's transcript and the two fragments the model produced for it in the issue
    transcript = Transcript(language="en", segments=[TranscriptSegment(start=0.0, end=11.0, text=JFK_TEXT)])
    vocab = vocabulary(transcript)
    fragments = ["ask what you can do for your", "ask what your country can do"]

    keywords, from_model = rank_keywords(fragments, [], text=JFK_TEXT, language="en", vocabulary=vocab)

    # Then the list is topped up to at least five real topics, each made of transcript words
    assert MIN_KEYWORDS <= len(keywords) <= MAX_KEYWORDS
    assert from_model == 0
    assert keywords[:3] == ["fellow Americans", "ask", "country"]
    assert len({k.casefold() for k in keywords}) == len(keywords)
    for keyword in keywords:
        assert 1 <= len(keyword.split()) <= 3, keyword
        assert all(word in vocab for word in words_of(keyword)), keyword
        assert not function_words("en") & {keyword.split()[0].casefold(), keyword.split()[-1].casefold()}


def test_jfk_gets_five_keywords_when_the_model_gives_a_part_of_its_only_phrase() -> None:
    # Given what the 1.5B answered for the demo clip: "American" (the transcript says "Americans") and
    # "country", so yake's distinct topics add nothing new
    transcript = Transcript(language="en", segments=[TranscriptSegment(start=0.0, end=11.0, text=JFK_TEXT)])

    keywords, from_model = rank_keywords(
        ["American", "country"], [], text=JFK_TEXT, language="en", vocabulary=vocabulary(transcript)
    )

    # Then overlapping phrases and words fill the list to five
    assert keywords[:2] == ["American", "country"] and from_model == 2
    assert len(keywords) == MIN_KEYWORDS
    assert "fellow Americans" in keywords


def test_model_keywords_lead_and_yake_fills_with_distinct_topics() -> None:
    text = (
        "So simplification of symbols you could think of. Maybe have an L_C_D_ display or something like that, "
        "like a mobile, with menus. On a mobile phone you can press a key and it gives you a menu. "
        "Symbols you are meant to understand, but you don't. A remote control with a little display."
    )
    vocab = {w.casefold() for w in words_of(text)}
    model = ["remote control", "user experience", "Menus", "menu"]

    keywords, from_model = rank_keywords(model, [], text=text, language="en", vocabulary=vocab)

    # The model's grounded keywords first, in its order ("Menus" and "menu" are one keyword)
    assert keywords[:2] == ["remote control", "Menus"] and from_model == 2
    assert MIN_KEYWORDS <= len(keywords) <= MAX_KEYWORDS
    # yake's additions are new topics, not parts of what is already there ("remote", "control")
    added = [set(words_of(k)) for k in keywords[2:]]
    assert all(not (words <= {"remote", "control", "menus", "menu"}) for words in added), keywords


def test_too_few_content_words_give_fewer_keywords_never_invented_ones() -> None:
    text = "Mm. Yeah. Okay, thanks."
    keywords, _ = rank_keywords(["gratitude"], [], text=text, language="en", vocabulary=set(words_of(text)))
    assert keywords == ["thanks"]


def test_keywords_must_be_made_of_transcript_words() -> None:
    vocab = {"remote", "control", "menu", "display", "l_c_d_", "mobile", "phone", "yeah"}
    candidates = [
        "Remote Control",  # kept: case-insensitive
        "remote control",  # duplicate
        "user experience",  # invented
        "mobile-like",  # "like" is not in the transcript
        "L_C_D_ display",  # kept: the transcriber's spelling is a word
        "  menu. ",  # kept, trimmed
        "yeah",  # filler only
        "",
    ]
    assert grounded_keywords(candidates, vocab) == ["Remote Control", "L_C_D_ display", "menu"]


def test_a_keyword_in_the_plural_of_a_transcript_word_is_grounded() -> None:
    vocab = {"background", "objects", "recording", "boxes"}
    candidates = ["backgrounds", "object recording", "box", "objectives"]
    assert grounded_keywords(candidates, vocab) == ["backgrounds", "object recording", "box"]


def test_yake_fallback_skips_fillers() -> None:
    text = (
        "Yeah. Mm-hmm. Yeah, the remote control needs a menu display. Yeah, a menu display like a mobile "
        "phone. Mm-hmm. The remote control buttons are complicated, yeah."
    )
    vocab = {w.casefold().strip(".,") for w in text.split()}
    keywords = yake_keywords(text, "en", vocab)
    assert keywords
    assert not any(word in {"yeah", "mm", "hmm"} for k in keywords for word in k.casefold().split())
    assert any("remote" in k.casefold() or "menu" in k.casefold() for k in keywords)


def test_speaker_turns_merge_one_speaker_and_use_display_names() -> None:
    transcript = Transcript(
        speaker_names={"SPEAKER_00": "Alice", "SPEAKER_01": "  "},
        segments=[
            TranscriptSegment(start=0.0, end=2.0, speaker="SPEAKER_00", text=" Hello  there."),
            TranscriptSegment(start=2.0, end=4.0, speaker="SPEAKER_00", text="How are you?"),
            TranscriptSegment(start=65.0, end=66.0, speaker="SPEAKER_01", text="Fine."),
            TranscriptSegment(start=67.0, end=68.0, speaker=None, text="(applause)"),
        ],
    )
    turns = speaker_turns(transcript)
    assert [line.render() for line in turns] == ["Alice: Hello there. How are you?", "SPEAKER_01: Fine.", "(applause)"]
    assert [(line.start, line.end) for line in turns] == [(0.0, 4.0), (65.0, 66.0), (67.0, 68.0)]
    assert vocabulary(transcript) >= {"hello", "there", "how", "fine", "applause"}


@pytest.mark.parametrize(
    ("phrase", "cut"),
    [
        ("Diane in New", True),  # "New Jersey" runs on
        ("Jersey now", True),  # starts inside "New Jersey"
        ("Diane in New Jersey", False),
        ("remote control", False),  # not a name at all
        ("Chicago", False),  # followed by a lowercase word
    ],
)
def test_half_a_name_is_not_a_keyword(phrase: str, cut: bool) -> None:
    text = "I met Diane in New Jersey now. I'm originally from Chicago also. The remote control is big."
    assert cuts_a_name(phrase, text) is cut


def at_the_cap(head: str, tail: str) -> str:
    """One sentence `head ... tail` a few characters short of the pattern's cap: where the grammar ends a
    model's longer sentence, or the model itself."""
    filler = " menu" * ((SENTENCE_MAX_CHARS - 1 - len(head) - len(tail)) // len(" menu"))
    sentence = head + filler + tail
    assert SENTENCE_MAX_CHARS - 5 <= len(sentence) < SENTENCE_MAX_CHARS
    return sentence


def at_exactly_the_cap(head: str, tail: str) -> str:
    """`at_the_cap`, made exactly as long as the cap by putting some of its filler words in the plural."""
    sentence = at_the_cap(head, tail)
    short = SENTENCE_MAX_CHARS - len(sentence)
    sentence = sentence.replace(" menu ", " menus ", short)
    assert len(sentence) == SENTENCE_MAX_CHARS
    return sentence


def test_summary_pattern_caps_each_sentence() -> None:
    validator = jsonschema.Draft202012Validator(json_schema_for(LlmSummary))
    longest = "A" + "b" * (SENTENCE_MAX_CHARS - 2) + "."
    assert validator.is_valid({**GOOD, "summary": f"{longest} {longest}"})
    assert not validator.is_valid({**GOOD, "summary": f"{longest[:-1]}b. {longest}"})


@pytest.mark.parametrize(
    ("cut", "mended_end"),
    [
        # The cap came right after a comma: the clause before it was complete
        (at_the_cap("Speakers discuss remote controls", ", including a potential LCD display,."), " LCD display."),
        # ... or after a one-character way out in another script
        (at_the_cap("Speakers discuss remote controls", ", emphasizing simplicity,易."), " simplicity."),
        # Mid-clause (a word no sentence ends on) with a clause break late enough: the sentence ends there
        (at_the_cap("Speakers discuss remote controls", ", aiming to simplify it and the."), " menu."),
        # ... with none: the words go
        (at_the_cap("Speakers discuss remote controls", " like mobile phones for ease of."), " for ease."),
        # Exactly as long as the cap allows: ended at its last clause break (seen: "... on a new.")
        (at_exactly_the_cap("Speakers discuss remote controls", ", emphasizing menus and symbols on a new."), " menu."),
        # A mark of its own is not doubled
        (at_the_cap("Speakers discuss remote controls", " and buttons etc.,."), " buttons etc."),
    ],
)
def test_mend_cut_sentences_ends_a_capped_sentence_at_a_clause(cut: str, mended_end: str) -> None:
    mended = mend_cut_sentences(f"{cut} They agree.", english=True)
    first, second = mended.rsplit(" They agree.", 1)[0], mended.rsplit(" ", 2)[-2:]
    assert first.endswith(mended_end), first
    assert first.startswith("Speakers discuss remote controls")
    assert second == ["They", "agree."]


def test_mend_cut_sentences_ends_cjk_text_before_its_trailing_comma() -> None:
    clause = "发言人讨论了遥控器的设计"
    cut = "，".join([clause] * 15) + "，。"
    assert SENTENCE_MAX_CHARS - 5 <= len(cut) <= SENTENCE_MAX_CHARS
    assert mend_cut_sentences(cut, english=False) == "，".join([clause] * 15) + "。"


@pytest.mark.parametrize(
    ("text", "english"),
    [
        # Under the cap the model ended the sentence itself
        ("Speakers talk about what phones are for. They agree on a menu for ease of.", True),
        # A capped sentence in another language keeps its words (the function-word list is English)
        (at_the_cap("Die Sprecher reden über Fernbedienungen", " über die Größe und."), False),
        # ... and one that shows no cut stays as it is: it may well be the model's own end
        (at_the_cap("Speakers discuss remote controls", " and agree."), True),
        (at_the_cap("Speakers discuss remote controls", ", and what the price should be."), True),
        (at_the_cap("Speakers discuss remote controls", ", aiming to simplify and improve ease."), True),
        # ... even at exactly the cap with no clause break ("an" ends German sentences)
        (at_exactly_the_cap("Die Sprecher sehen sich", " die neue Fernbedienung an."), False),
        # A French word with an accent is not a way out of the cap
        (at_the_cap("Les intervenants parlent des télécommandes", " et vont jusqu'à."), False),
        # Text without end marks (a server that ignores the pattern) is not mended
        (at_the_cap("Speakers discuss remote controls", " for ease of"), True),
    ],
)
def test_mend_cut_sentences_keeps_sentences_it_cannot_tell_were_cut(text: str, english: bool) -> None:
    assert mend_cut_sentences(text, english=english) == text
