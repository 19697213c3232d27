"""Pure logic: the schema sent for constrained decoding, its agreement with msgspec validation, keyword
grounding and how transcripts are shown to the model."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from vidpipe_summarizer.keywords import grounded_keywords, yake_keywords
from vidpipe_summarizer.schema import LlmChunkNotes, LlmSummary, json_schema_for, worst_case_output_tokens
from vidpipe_summarizer.transcript import Transcript, TranscriptSegment, speaker_turns, vocabulary

jsonschema = pytest.importorskip("jsonschema")

GOOD = {
    "summary": "The team discusses a simpler remote control with a small menu display like a phone.",
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
        {**GOOD, "summary": "x" * 451},
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
    schema_says_valid = jsonschema.Draft202012Validator(json_schema_for(LlmSummary)).is_valid(document)
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
    lines = [line.render() for line in speaker_turns(transcript)]
    assert lines == ["[00:00] Alice: Hello there. How are you?", "[01:05] SPEAKER_01: Fine.", "[01:07] (applause)"]
    assert vocabulary(transcript) >= {"hello", "there", "how", "fine", "applause"}
