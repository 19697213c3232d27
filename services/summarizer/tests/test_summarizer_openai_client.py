"""The production client against an OpenAI-compatible test double that speaks real HTTP on 127.0.0.1.

The double is a scripted `http.server`: each POST to /v1/chat/completions takes the next scripted reply
(status, body, optional delay) and records the request, so the tests see exactly what goes on the wire.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest

from vidpipe.errors import PermanentError, RetryableError
from vidpipe_summarizer.engine import SummarizerEngine, without_labels
from vidpipe_summarizer.llm import OpenAICompatibleBackend
from vidpipe_summarizer.schema import LlmSummary
from vidpipe_summarizer.settings import SummarizerSettings
from vidpipe_summarizer.transcript import Transcript, TranscriptSegment, decode_transcript, vocabulary, words_of

VALID_SUMMARY = {
    "summary": "Alice proposes a remote control with fewer buttons. Another speaker suggests a small menu display.",
    "title": "Remote control design",
    "keywords": ["remote control", "menu", "display", "mobile phone", "buttons"],
}
VALID_NOTES = {
    "summary": "They talk about buttons and a menu display.",
    "title": "Buttons and menus",
    "keywords": ["buttons", "menu"],
}


def completion(content: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


class Reply(msgspec.Struct, frozen=True):
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0


def ok(document: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps(completion(json.dumps(document))).encode())


def as_events(body: bytes) -> bytes:
    """A completion as the server-sent events of a streamed one (the content in 8-character deltas)."""
    try:
        document = json.loads(body)
        choice = document["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return b"data: " + body + b"\n\ndata: [DONE]\n\n"
    events = [
        {"choices": [{"index": 0, "delta": {"content": content[i : i + 8]}, "finish_reason": None}]}
        for i in range(0, len(content), 8)
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    events.append({"choices": [], "usage": document.get("usage")})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.default: Reply | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with fake._lock:
                    fake.requests.append(body)
                    fake.paths.append(self.path)
                    fake.headers.append(dict(self.headers.items()))
                    reply = fake.script.pop(0) if fake.script else fake.default
                if reply is None:
                    reply = Reply(500, b'{"error": "script exhausted"}')
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                streamed = body.get("stream") and reply.status == 200
                payload = as_events(reply.body) if streamed else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up, as intended by the test

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    yield server
    server.close()


def make_backend(server: FakeOpenAIServer, **overrides: Any) -> OpenAICompatibleBackend:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "meta-llama/Llama-3.2-3B-Instruct",
        "context_tokens": 8192,
        "api_key": "secret-token",
        "request_timeout_s": 2.0,
        "http_retries": 2,
        "http_backoff_s": 0.01,
    }
    options.update(overrides)
    return OpenAICompatibleBackend(**options)


def make_engine(backend: OpenAICompatibleBackend, **settings: Any) -> SummarizerEngine:
    return SummarizerEngine(backend, SummarizerSettings(engine="openai", **settings))


def short_transcript() -> Transcript:
    return Transcript(
        language="en",
        speaker_names={"SPEAKER_00": "Alice"},
        segments=[
            TranscriptSegment(
                start=0.0,
                end=6.0,
                speaker="SPEAKER_00",
                text="A remote control with fewer buttons and a menu display would be simpler.",
            ),
            TranscriptSegment(
                start=6.0,
                end=12.0,
                speaker="SPEAKER_01",
                text="Like the menu on a mobile phone, yes, with a small display.",
            ),
        ],
    )


def test_request_has_the_portable_json_schema_shape(fake_server: FakeOpenAIServer) -> None:
    # Given a server that answers with a valid summary
    fake_server.script = [ok(VALID_SUMMARY)]
    engine = make_engine(make_backend(fake_server))

    # When a short transcript is summarised
    summary = engine.summarize(short_transcript())

    # Then exactly one chat completion was requested, in the OpenAI json_schema shape vLLM honours
    assert fake_server.paths == ["/v1/chat/completions"]
    request = fake_server.requests[0]
    assert request["model"] == "meta-llama/Llama-3.2-3B-Instruct"
    assert request["temperature"] == 0
    assert isinstance(request["seed"], int)
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert "guided_json" not in request
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"summary", "title", "keywords"}
    assert request["max_tokens"] >= 450  # room for the longest summary the schema allows
    assert fake_server.headers[0]["Authorization"] == "Bearer secret-token"
    # And the speaker's display name (not the label) reached the prompt, the unnamed one kept its label
    assert "Alice: A remote control" in request["messages"][1]["content"]
    assert "SPEAKER_01: Like the menu" in request["messages"][1]["content"]
    # And the validated result is returned
    assert summary.title == VALID_SUMMARY["title"]
    assert summary.keywords_source == "model"
    assert summary.chapters == []
    assert summary.chunk_count == 1


def test_timeouts_become_retryable_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.default = Reply(200, json.dumps(completion(json.dumps(VALID_SUMMARY))).encode(), delay_s=1.5)
    backend = make_backend(fake_server, request_timeout_s=0.3, http_retries=1)

    with pytest.raises(RetryableError) as caught:
        make_engine(backend).summarize(short_transcript())

    assert caught.value.code == "llm_timeout"
    assert len(fake_server.requests) == 2  # the first try and one retry


def test_server_down_is_retryable(fake_server: FakeOpenAIServer) -> None:
    url = fake_server.base_url
    fake_server.close()  # nothing listens on that port any more
    backend = OpenAICompatibleBackend(base_url=url, model="m", context_tokens=8192, http_retries=1, http_backoff_s=0.01)

    with pytest.raises(RetryableError) as caught:
        make_engine(backend).summarize(short_transcript())

    assert caught.value.code == "llm_unavailable"


def test_5xx_is_retried_then_succeeds(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = [Reply(503, b'{"error": "overloaded"}'), Reply(502, b"bad gateway"), ok(VALID_SUMMARY)]

    summary = make_engine(make_backend(fake_server, http_retries=2)).summarize(short_transcript())

    assert summary.title == VALID_SUMMARY["title"]
    assert len(fake_server.requests) == 3


def test_5xx_beyond_the_retries_is_retryable(fake_server: FakeOpenAIServer) -> None:
    fake_server.default = Reply(500, b'{"error": "boom"}')

    with pytest.raises(RetryableError) as caught:
        make_engine(make_backend(fake_server, http_retries=2)).summarize(short_transcript())

    assert "HTTP 500" in caught.value.message
    assert len(fake_server.requests) == 3


def test_4xx_is_permanent_without_retry(fake_server: FakeOpenAIServer) -> None:
    fake_server.default = Reply(400, b'{"error": {"message": "context length exceeded"}}')

    with pytest.raises(PermanentError) as caught:
        make_engine(make_backend(fake_server)).summarize(short_transcript())

    assert caught.value.code == "llm_request_rejected"
    assert "context length exceeded" in caught.value.message
    assert len(fake_server.requests) == 1


def test_non_json_content_is_regenerated_then_permanent(fake_server: FakeOpenAIServer) -> None:
    fake_server.default = Reply(200, json.dumps(completion("Sure! Here is a summary: the team...")).encode())

    with pytest.raises(PermanentError) as caught:
        make_engine(make_backend(fake_server), max_attempts=3).summarize(short_transcript())

    assert caught.value.code == "llm_output_invalid"
    assert "not JSON" in caught.value.message
    assert len(fake_server.requests) == 3
    # Retries are not greedy repeats of the same request: they sample, with a different seed each
    assert [r["temperature"] for r in fake_server.requests] == [0, 0.4, 0.4]
    assert len({r["seed"] for r in fake_server.requests}) == 3


def test_schema_invalid_json_is_regenerated_then_permanent(fake_server: FakeOpenAIServer) -> None:
    too_few_keywords = {**VALID_SUMMARY, "keywords": ["remote"]}
    fake_server.default = ok(too_few_keywords)

    with pytest.raises(PermanentError) as caught:
        make_engine(make_backend(fake_server), max_attempts=2).summarize(short_transcript())

    assert caught.value.code == "llm_output_invalid"
    assert "keywords" in caught.value.message
    assert len(fake_server.requests) == 2


def test_invalid_output_then_valid_output_succeeds(fake_server: FakeOpenAIServer) -> None:
    truncated = Reply(200, json.dumps(completion('{"summary": "The team', finish_reason="length")).encode())
    not_an_envelope = Reply(200, b"<html>proxy error</html>")
    fake_server.script = [truncated, not_an_envelope, ok(VALID_SUMMARY)]

    summary = make_engine(make_backend(fake_server), max_attempts=3).summarize(short_transcript())

    assert summary.summary == VALID_SUMMARY["summary"]
    assert len(fake_server.requests) == 3


def test_keywords_not_in_the_transcript_are_dropped_and_the_list_topped_up(fake_server: FakeOpenAIServer) -> None:
    invented = ["user experience", "accessibility", "Remote Control", "menu", "ergonomics", "DISPLAY"]
    fake_server.script = [ok({**VALID_SUMMARY, "keywords": invented})]

    summary = make_engine(make_backend(fake_server)).summarize(short_transcript())

    # The model's grounded keywords lead, in its order; yake adds other topics up to at least five
    assert summary.keywords[:3] == ["Remote Control", "menu", "DISPLAY"]
    assert 5 <= len(summary.keywords) <= 10
    vocab = vocabulary(short_transcript())
    assert all(all(word in vocab for word in words_of(k)) for k in summary.keywords)
    assert summary.keywords_source == "model+yake"


def test_yake_chooses_all_keywords_when_no_model_keyword_is_grounded(fake_server: FakeOpenAIServer) -> None:
    invented = ["user experience", "accessibility", "ergonomics", "usability", "innovation"]
    fake_server.script = [ok({**VALID_SUMMARY, "keywords": invented})]

    summary = make_engine(make_backend(fake_server)).summarize(short_transcript())

    assert summary.keywords_source == "yake"
    assert 5 <= len(summary.keywords) <= 10
    assert not {"yeah", "yes", "like"} & {k.casefold() for k in summary.keywords}


JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def test_jfk_demo_keywords_are_five_topics_not_the_model_fragments(fake_server: FakeOpenAIServer) -> None:
    # Given the demo clip's transcript and what the model answered for it in the issue: five keywords, of
    # which only two fragments were made of transcript words (the old code showed just those two)
    answer = {
        "summary": "The speaker addresses his fellow Americans. He asks what they can do for their country.",
        "title": "Ask not what your country can do",
        "keywords": [
            "ask what you can do for your",
            "ask what your country can do",
            "personal responsibility",
            "national interests",
            "civic duty",
        ],
    }
    fake_server.script = [ok(answer)]
    transcript = Transcript(language="en", segments=[TranscriptSegment(start=0.0, end=11.0, text=JFK_TEXT)])

    summary = make_engine(make_backend(fake_server)).summarize(transcript)

    # Then five to ten keywords, none of them a fragment, every word heard in the clip
    assert 5 <= len(summary.keywords) <= 10, summary.keywords
    assert not {"ask what you can do for your", "ask what your country can do"} & set(summary.keywords)
    assert all(len(k.split()) <= 3 for k in summary.keywords), summary.keywords
    assert {"fellow Americans", "country"} <= set(summary.keywords)
    assert all(all(word in vocabulary(transcript) for word in words_of(k)) for k in summary.keywords)
    assert summary.keywords_source == "yake"
    # And the two sentences come through unchanged
    assert summary.summary == answer["summary"]


def test_a_server_ignoring_the_sentence_pattern_gets_its_summary_cut_to_four(fake_server: FakeOpenAIServer) -> None:
    # Given a server without guided decoding that writes six sentences
    six = " ".join(f"Point number {n} was discussed by Alice." for n in range(1, 7))
    fake_server.script = [ok({**VALID_SUMMARY, "summary": six})]

    summary = make_engine(make_backend(fake_server)).summarize(short_transcript())

    # Then the stored summary keeps the first four, and the request did carry the pattern
    assert summary.summary == " ".join(f"Point number {n} was discussed by Alice." for n in range(1, 5))
    pattern = fake_server.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["summary"]["pattern"]
    assert pattern.startswith("^") and pattern.endswith("{1,3}$")
    # for the English transcript, sentences end on ASCII marks only (a full-width "？" is refused)
    assert re.fullmatch(pattern, "Alice proposed menus for the remote. Bob agreed with her.")
    assert not re.fullmatch(pattern, "Alice proposed menus for the remote？ Bob agreed with her.")


def test_prompt_names_known_speakers_and_hides_bare_labels(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = [ok(VALID_SUMMARY)]

    make_engine(make_backend(fake_server)).summarize(short_transcript())

    system, user = (message["content"] for message in fake_server.requests[0]["messages"])
    # The names are in the job's own message; a bare label is never offered as a name
    assert "Name the speakers: Alice." in user
    assert "SPEAKER_01." not in user
    # The fixed rules (bare labels, reported speech, keyword shape) are in the system prompt, not repeated
    assert "a label like SPEAKER_00 is not a name" in system
    assert "reported speech" in system and "reported speech" not in user
    assert "no sentences or parts of sentences" in system


def test_a_diarizer_label_the_model_copies_never_reaches_the_stored_summary(fake_server: FakeOpenAIServer) -> None:
    # Given a model that ignores the rule and writes the machine labels
    labelled = {
        **VALID_SUMMARY,
        "summary": "SPEAKER_01 and SPEAKER_02 discuss a remote control. SPEAKER_01 proposes a small menu display.",
        "title": "SPEAKER_01 on remote controls",
    }
    fake_server.script = [ok(labelled)]

    summary = make_engine(make_backend(fake_server)).summarize(short_transcript())

    # Then the summary and title say who in words, and nothing else changed
    assert summary.summary == "Two speakers discuss a remote control. The first speaker proposes a small menu display."
    assert summary.title == "A speaker on remote controls"
    assert len(fake_server.requests) == 1  # put in words, not asked again


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SPEAKER_00 proposes a menu, while SPEAKER_01 prefers buttons. SPEAKER_01 insists.",
            "A speaker proposes a menu, while another speaker prefers buttons. The second speaker insists.",
        ),
        (
            "The speaker SPEAKER_03 asks. SPEAKER_00, SPEAKER_01 and SPEAKER_02 agree.",
            "A speaker asks. Three speakers agree.",
        ),
        ("Alice proposes a menu. Bob agrees.", "Alice proposes a menu. Bob agrees."),
        ("Notes on SPEAKER_10's idea.", "Notes on a speaker's idea."),
        ("SPEAKER_00 and SPEAKER_01's plan is a menu.", "Two speakers' plan is a menu."),
        # Only the replaced words get a capital, and only at a sentence start
        ("iPhone plans of SPEAKER_01, e.g. the ads.", "iPhone plans of a speaker, e.g. the ads."),
        (
            "Budgets first! SPEAKER_01 agrees, SPEAKER_02 does not.",
            "Budgets first! A speaker agrees, another speaker does not.",
        ),
        # A label inside a longer word is not a label
        ("MY_SPEAKER_01 and SPEAKER_02s are files.", "MY_SPEAKER_01 and SPEAKER_02s are files."),
    ],
)
def test_labels_are_put_in_words(text: str, expected: str) -> None:
    assert without_labels(text, min_chars=3, max_chars=570) == expected


@pytest.mark.parametrize(
    ("text", "min_chars", "max_chars"),
    [
        ("SPEAKER_00 asks. SPEAKER_01 answers.", 3, 36),  # "another speaker" is longer than "SPEAKER_01"
        ("The speakers SPEAKER_00 and SPEAKER_01 agree. They leave now.", 40, 570),  # would drop under 40
    ],
)
def test_labels_stay_when_the_words_would_not_fit_the_field(text: str, min_chars: int, max_chars: int) -> None:
    assert without_labels(text, min_chars=min_chars, max_chars=max_chars) == text


def long_transcript(minutes: int, *, sentences_per_turn: int = 1) -> Transcript:
    """A transcript with one turn every 10 s, alternating between two speakers."""
    sentence = "we should compare the budget for the marketing campaign with last quarter and decide on it."
    text = " ".join([sentence] * sentences_per_turn)
    segments = [
        TranscriptSegment(start=t, end=t + 9.5, speaker=f"SPEAKER_0{(t // 10) % 2:.0f}", text=text)
        for t in (10.0 * i for i in range(minutes * 6))
    ]
    return Transcript(language="en", segments=segments)


def test_long_transcript_that_fits_gets_its_chapters_in_the_same_call(fake_server: FakeOpenAIServer) -> None:
    # Given a 12-minute transcript that fits the context, and chapters wanted from 5 minutes on
    titles = ["Budget review", "Campaign costs", "Last quarter", "Decision"]
    fake_server.script = [ok({**VALID_SUMMARY, "chapters": titles})]
    engine = make_engine(make_backend(fake_server), chapter_target_s=180.0)

    summary = engine.summarize(long_transcript(12))

    # Then one call wrote the summary and a title for each 3-minute part, in order
    assert len(fake_server.requests) == 1
    request = fake_server.requests[0]
    schema = request["response_format"]["json_schema"]
    assert schema["name"] == "LlmSummaryWithChapters"
    assert schema["schema"]["properties"]["chapters"]["minItems"] == 4
    assert schema["schema"]["properties"]["chapters"]["maxItems"] == 4
    user = request["messages"][1]["content"]
    assert "[Part 1 from 00:00]" in user and "[Part 4 from 09:00]" in user
    assert [(c.start, c.title) for c in summary.chapters] == list(zip([0.0, 180.0, 360.0, 540.0], titles, strict=True))
    assert summary.chunk_count == 1
    assert summary.summary == VALID_SUMMARY["summary"]


def test_a_wrong_number_of_chapter_titles_is_asked_again(fake_server: FakeOpenAIServer) -> None:
    # Given a server whose first answer (e.g. one ignoring the schema's item count) has three titles for four
    fake_server.script = [
        ok({**VALID_SUMMARY, "chapters": ["One", "Two", "Three"]}),
        ok({**VALID_SUMMARY, "chapters": ["One", "Two", "Three", "Four"]}),
    ]

    summary = make_engine(make_backend(fake_server), chapter_target_s=180.0).summarize(long_transcript(12))

    assert len(fake_server.requests) == 2
    assert [c.title for c in summary.chapters] == ["One", "Two", "Three", "Four"]


def test_long_transcript_is_map_reduced_into_chapters(fake_server: FakeOpenAIServer) -> None:
    # Given a 12-minute transcript too long for the context in one piece, and chapters wanted from 5 minutes on
    fake_server.default = ok(VALID_NOTES)
    backend = make_backend(fake_server, context_tokens=2560)
    engine = make_engine(backend, chapter_target_s=180.0)
    progress: list[tuple[float, str]] = []

    # When it is summarised (the last request, the reduce, gets the final shape)
    def reply_final_on_reduce(fraction: float, detail: str) -> None:
        progress.append((fraction, detail))
        if detail == "combining the parts":
            fake_server.script = [ok(VALID_SUMMARY)]

    summary = engine.summarize(long_transcript(12), progress=reply_final_on_reduce)

    # Then it was cut into four 3-minute chapters starting at the chunk boundaries, plus one reduce call
    assert summary.chunk_count == 4
    assert [c.start for c in summary.chapters] == [0.0, 180.0, 360.0, 540.0]
    assert all(c.title == VALID_NOTES["title"] for c in summary.chapters)
    assert len(fake_server.requests) == 5
    map_schema = fake_server.requests[0]["response_format"]["json_schema"]
    reduce_schema = fake_server.requests[-1]["response_format"]["json_schema"]
    assert map_schema["name"] == "LlmChunkNotes"
    assert reduce_schema["name"] == "LlmSummary"
    assert "Part 2 of 4" in fake_server.requests[1]["messages"][1]["content"]
    assert "<notes>" in fake_server.requests[-1]["messages"][1]["content"]
    # And every call opened with one identical system message (what a local server keeps cached): only the
    # user message differs between the map and reduce calls
    assert len({request["messages"][0]["content"] for request in fake_server.requests}) == 1
    # And progress went from 0 to 1 in order
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0


def test_transcript_longer_than_the_context_is_chunked_without_chapters(fake_server: FakeOpenAIServer) -> None:
    # Given a 4-minute transcript (no chapters) and a context too small for it in one pass
    context = 2560
    fake_server.default = ok(VALID_NOTES)
    backend = make_backend(fake_server, context_tokens=context)
    engine = make_engine(backend)
    transcript = long_transcript(4, sentences_per_turn=2)
    text_tokens = backend.count_tokens("\n".join(s.text for s in transcript.segments))
    assert text_tokens + engine._max_tokens[LlmSummary] > context

    def reply_final_on_reduce(fraction: float, detail: str) -> None:
        if detail == "combining the parts":
            fake_server.script = [ok(VALID_SUMMARY)]

    summary = engine.summarize(transcript, progress=reply_final_on_reduce)

    # Then several chunks were summarised and reduced to one result, with no chapters
    assert summary.chunk_count >= 2
    assert summary.chapters == []
    assert len(fake_server.requests) == summary.chunk_count + 1
    # And no request could overflow the context: prompt estimate + max_tokens fits
    for request in fake_server.requests:
        prompt = "\n".join(m["content"] for m in request["messages"])
        assert backend.count_tokens(prompt) + request["max_tokens"] <= context


def test_transcribe_output_with_extra_fields_is_accepted() -> None:
    document = {
        "language": "de",
        "language_probability": 0.97,
        "duration": 3.0,
        "engine": "local",
        "segments": [
            {
                "start": 0.0,
                "end": 3.0,
                "speaker": None,
                "text": " Guten Morgen zusammen.",
                "words": [{"start": 0.0, "end": 1.0, "word": " Guten", "probability": 0.9}],
            }
        ],
        "words": [],
        "speakers": [],
        "turns": [],
    }
    transcript = decode_transcript(json.dumps(document).encode())
    assert transcript.known_language == "de"
    assert transcript.segments[0].speaker is None
    assert transcript.span == 3.0


def test_what_vidpipe_transcribe_prints_is_what_vidpipe_summarize_reads() -> None:
    # Given the transcriber CLI's document: speakers as plain labels, words beside the segments
    from vidpipe_transcriber.cli import CliSegment, CliTranscript, CliWord

    printed = CliTranscript(
        language="en",
        language_probability=0.9,
        duration=4.0,
        engine="faster-whisper",
        model="base",
        speakers=["SPEAKER_00", "SPEAKER_01"],
        segments=[
            CliSegment(start=0.0, end=2.0, speaker="SPEAKER_00", text="Shall we start?"),
            CliSegment(start=2.0, end=4.0, speaker="SPEAKER_01", text="Yes, the budget first."),
        ],
        words=[CliWord(start=0.0, end=0.5, word="Shall", speaker="SPEAKER_00")],
    )
    # When the summarizer reads it
    transcript = decode_transcript(msgspec.json.encode(printed))
    # Then every turn arrives with its speaker
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("SPEAKER_00", "Shall we start?"),
        ("SPEAKER_01", "Yes, the budget first."),
    ]
    assert transcript.span == 4.0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"language": "en", "segments": []}', "empty_transcript"),
        (b'{"language": "en", "segments": [{"start": 0, "end": 1, "text": "  "}]}', "empty_transcript"),
        (b'{"segments": "nope"}', "invalid_transcript"),
        (b"not json", "invalid_transcript"),
    ],
)
def test_bad_transcripts_are_permanent_errors(payload: bytes, code: str) -> None:
    with pytest.raises(PermanentError) as caught:
        decode_transcript(payload)
    assert caught.value.code == code


def test_progress_fills_while_the_answer_streams_in(fake_server: FakeOpenAIServer) -> None:
    # Given a server that streams a valid summary in 8-character pieces
    fake_server.script = [ok(VALID_SUMMARY)]
    engine = make_engine(make_backend(fake_server))
    progress: list[float] = []

    # When the job reports progress
    summary = engine.summarize(short_transcript(), progress=lambda fraction, _detail: progress.append(fraction))

    # Then the request was streamed, the result is the same as unstreamed, and the bar moved in between
    assert fake_server.requests[0]["stream"] is True
    assert summary.title == VALID_SUMMARY["title"]
    assert progress == sorted(progress)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert any(0.5 < f < 1.0 for f in progress), progress


def test_without_a_progress_callback_the_request_is_not_streamed(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = [ok(VALID_SUMMARY)]
    engine = make_engine(make_backend(fake_server))

    engine.summarize(short_transcript())

    assert "stream" not in fake_server.requests[0]
    assert engine.completions[0].wall_s > 0


def test_a_streamed_server_error_is_retried_like_an_unstreamed_one(fake_server: FakeOpenAIServer) -> None:
    fake_server.script = [Reply(503, b'{"error": "loading"}'), ok(VALID_SUMMARY)]
    engine = make_engine(make_backend(fake_server))

    summary = engine.summarize(short_transcript(), progress=lambda _f, _d: None)

    assert summary.title == VALID_SUMMARY["title"]
    assert len(fake_server.requests) == 2
