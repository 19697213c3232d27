"""The one transcript model's derived views (pure)."""

from __future__ import annotations

import msgspec
import pytest

from vidpipe.subtitles import to_srt, to_vtt
from vidpipe.transcript import Transcript, TranscriptSegment


def test_the_span_falls_back_to_the_last_segment_when_the_duration_is_unknown() -> None:
    segments = [TranscriptSegment(start=0.0, end=3.5, text="a"), TranscriptSegment(start=4.0, end=9.0, text="b")]
    assert Transcript(segments=segments).span == 9.0
    assert Transcript(segments=segments, duration=12.0).span == 12.0
    assert Transcript(segments=[]).span == 0.0


@pytest.mark.parametrize(("language", "known"), [("en", "en"), ("und", None), ("", None), ("Unknown", None)])
def test_an_undetected_language_is_not_a_language(language: str, known: str | None) -> None:
    assert Transcript(segments=[], language=language).known_language == known


def test_speakers_show_their_given_names_and_blank_names_fall_back_to_the_label() -> None:
    transcript = Transcript(segments=[], speaker_names={"SPEAKER_00": "Alice", "SPEAKER_01": "  "})
    assert transcript.speaker_display_name("SPEAKER_00") == "Alice"
    assert transcript.speaker_display_name("SPEAKER_01") == "SPEAKER_01"
    assert transcript.speaker_display_name(None) is None


def test_a_minimal_transcript_json_decodes_with_defaults() -> None:
    transcript = msgspec.json.decode(b'{"segments": [{"start": 0, "end": 1, "text": "hi"}]}', type=Transcript)
    assert (transcript.language, transcript.segments[0].speaker, transcript.segments[0].words) == ("und", None, [])


def test_subtitles_name_speakers_and_escape_markup() -> None:
    segments = [TranscriptSegment(start=0.0, end=1.0, text="a <b> & c", speaker="SPEAKER_00")]
    assert "Alice: a <b> & c" in to_srt(segments, {"SPEAKER_00": "Alice"})
    assert "<v Alice>a &lt;b&gt; &amp; c" in to_vtt(segments, {"SPEAKER_00": "Alice"})
