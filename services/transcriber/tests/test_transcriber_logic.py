"""Pure logic of the transcriber: no models, milliseconds each."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from vidpipe.errors import PermanentError
from vidpipe.subtitles import to_srt, to_vtt
from vidpipe_transcriber.clustering import ClusteringConfig, cluster_speakers
from vidpipe_transcriber.engine import assemble_transcript, clean_words, validate_options
from vidpipe_transcriber.evaluation import cp_wer, normalise_text, wer
from vidpipe_transcriber.local_engine import HallucinationThresholds, plan_windows
from vidpipe_transcriber.models import SpeakerTurn, TranscribeOptions, TranscriptSegment, TranscriptWord
from vidpipe_transcriber.speakers import (
    assign_speakers,
    relabel_by_first_appearance,
    snap_changes_to_sentence_ends,
    split_at_speaker_changes,
)


def word(start: float, end: float, text: str, speaker: str | None = None) -> TranscriptWord:
    return TranscriptWord(start=start, end=end, word=f" {text}", probability=0.9, speaker=speaker)


def turn(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


class TestAssignSpeakers:
    def test_greatest_overlap_wins(self) -> None:
        # Given a word straddling a change of speaker, mostly inside B's turn
        turns = [turn(0.0, 1.0, "A"), turn(1.0, 3.0, "B")]
        # Then B, who overlaps it 0.6 s against A's 0.2 s, gets it
        assert assign_speakers([word(0.8, 1.6, "x")], turns) == ["B"]

    def test_overlap_is_summed_per_speaker(self) -> None:
        # A has two short turns inside the word (0.3 s total) and B one of 0.25 s: the sum decides, not the max
        turns = [turn(0.0, 0.15, "A"), turn(0.15, 0.4, "B"), turn(0.4, 0.55, "A")]
        assert assign_speakers([word(0.0, 0.55, "x")], turns) == ["A"]

    def test_word_outside_every_turn_takes_the_nearest(self) -> None:
        turns = [turn(0.0, 1.0, "A"), turn(5.0, 6.0, "B")]
        words = [word(1.2, 1.4, "late"), word(4.5, 4.8, "early"), word(9.0, 9.5, "after")]
        assert assign_speakers(words, turns) == ["A", "B", "B"]

    def test_nearest_uses_the_longest_reaching_earlier_turn_with_overlapping_turns(self) -> None:
        # pyannote turns overlap: A runs long under B's short interjection
        turns = [turn(0.0, 10.0, "A"), turn(2.0, 3.0, "B")]
        assert assign_speakers([word(10.5, 11.0, "x")], turns) == ["A"]
        assert assign_speakers([word(2.5, 3.5, "y")], turns) == ["A"]  # A overlaps 1.0 s, B only 0.5 s
        assert assign_speakers([word(2.1, 2.9, "z")], [*turns, turn(2.0, 3.0, "B")]) == ["B"]  # 1.6 s vs 0.8 s

    def test_zero_length_word_inside_a_turn(self) -> None:
        assert assign_speakers([word(2.5, 2.5, "x")], [turn(0.0, 2.0, "A"), turn(2.0, 3.0, "B")]) == ["B"]

    def test_no_turns_gives_no_speaker(self) -> None:
        assert assign_speakers([word(0, 1, "x")], []) == [None]


class TestSegments:
    def test_split_at_every_speaker_change_and_never_across_asr_segments(self) -> None:
        asr = [[word(0, 1, "Hello"), word(1, 2, "there."), word(2, 3, "Hi")], [word(4, 5, "Bye")]]
        segments = split_at_speaker_changes(asr, ["A", "A", "B", "B"])
        assert [(s.speaker, s.text, s.start, s.end) for s in segments] == [
            ("A", "Hello there.", 0, 2),
            ("B", "Hi", 2, 3),
            ("B", "Bye", 4, 5),
        ]
        assert all(w.speaker == s.speaker for s in segments for w in s.words)

    def test_mismatched_speaker_count_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="speakers for"):
            split_at_speaker_changes([[word(0, 1, "x")]], [])

    def test_labels_follow_first_appearance_in_words_then_turns(self) -> None:
        segments = split_at_speaker_changes([[word(0, 1, "a"), word(1, 2, "b")]], ["raw7", "raw2"])
        turns = [turn(0, 1, "raw7"), turn(1, 2, "raw2"), turn(-1, 0, "raw9")]
        renamed, renamed_turns, mapping = relabel_by_first_appearance(segments, turns)
        # raw9 spoke first but said nothing the ASR kept, so it is numbered after the speakers with words
        assert mapping == {"raw7": "SPEAKER_00", "raw2": "SPEAKER_01", "raw9": "SPEAKER_02"}
        assert [s.speaker for s in renamed] == ["SPEAKER_00", "SPEAKER_01"]
        assert [t.speaker for t in renamed_turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]

    def test_assemble_counts_words_and_speech_per_speaker(self) -> None:
        transcript = assemble_transcript(
            engine="test",
            model="m",
            language="en",
            language_probability=0.5,
            duration=4.0,
            asr_segments=[[word(0, 1, "a"), word(1, 2, "b"), word(2.5, 3, "c")]],
            turns=[turn(0, 2.2, "x"), turn(2.2, 3.2, "y")],
            diarized=True,
        )
        assert [(s.label, s.word_count, s.speech_seconds) for s in transcript.speakers] == [
            ("SPEAKER_00", 2, 2.2),
            ("SPEAKER_01", 1, 1.0),
        ]
        assert [w.word for w in transcript.words] == [" a", " b", " c"]

    def test_clean_words_clamps_into_audio_and_keeps_starts_monotonic(self) -> None:
        words = [word(-0.1, 0.3, "a"), word(0.5, 0.4, "b"), word(0.45, 0.9, "c"), word(9.8, 10.4, "d")]
        cleaned = clean_words(words, duration=10.0)
        assert [(w.start, w.end) for w in cleaned] == [(0.0, 0.3), (0.5, 0.5), (0.5, 0.9), (9.8, 10.0)]


class TestSnapToSentenceEnds:
    @staticmethod
    def words(text: str) -> list[TranscriptWord]:
        return [word(i, i + 1, w) for i, w in enumerate(text.split())]

    def test_a_late_change_moves_back_to_the_sentence_end(self) -> None:
        words = self.words("you were there. Neither did I.")
        speakers = ["A", "A", "A", "A", "B", "B"]  # "Neither" landed on A
        assert snap_changes_to_sentence_ends(words, speakers) == ["A", "A", "A", "B", "B", "B"]

    def test_an_early_change_moves_forward_to_the_sentence_end(self) -> None:
        words = self.words("you were there. Neither did I.")
        speakers = ["A", "A", "B", "B", "B", "B"]  # "there." landed on B
        assert snap_changes_to_sentence_ends(words, speakers) == ["A", "A", "A", "B", "B", "B"]

    def test_changes_far_from_any_sentence_end_stay(self) -> None:
        words = self.words("one two three four five six seven")
        speakers = ["A", "A", "A", "B", "B", "B", "B"]
        assert snap_changes_to_sentence_ends(words, speakers) == speakers

    def test_a_snap_never_erases_a_speakers_only_words(self) -> None:
        words = self.words("yes. no maybe so.")
        # C's change moves back to "yes."; B's lone "so." would vanish if C's run grew over it, so it stays
        assert snap_changes_to_sentence_ends(words, ["A", "A", "C", "B"]) == ["A", "C", "C", "B"]
        assert snap_changes_to_sentence_ends(self.words("one two. three"), ["A", "B", "A"]) == ["A", "B", "A"]


class TestPlanWindows:
    def test_short_audio_is_one_window_with_context(self) -> None:
        assert plan_windows([(1.0, 3.0), (4.0, 8.0)], 600, 10.0) == [(0, 9 * 16000)]

    def test_no_speech_means_nothing_to_decode(self) -> None:
        assert plan_windows([], 600, 10.0) == []

    def test_windows_are_bounded_and_cut_in_pauses(self) -> None:
        speech = [(float(s), s + 25.0) for s in range(0, 300, 30)]  # 25 s talk, 5 s pause, ten times
        windows = plan_windows(speech, 100, 300.0)
        # 25+5+25+5+25 s fit in 100 s, a fourth talk would not: groups of three talks
        assert len(windows) == 4
        for (_, end), (next_start, _) in itertools.pairwise(windows):
            assert end <= next_start  # windows never overlap
        assert all((b - a) / 16000 <= 100 + 2 for a, b in windows)
        # each cut lies inside a pause, not inside speech
        for a, _ in windows[1:]:
            t = a / 16000
            assert not any(s < t < e for s, e in speech)

    def test_a_region_longer_than_a_window_is_cut_hard(self) -> None:
        windows = plan_windows([(0.0, 250.0)], 100, 250.0)
        assert all((b - a) / 16000 <= 101 for a, b in windows)
        assert windows[-1][1] == 250 * 16000


class TestClustering:
    @staticmethod
    def voices(counts: list[int], seed: int = 0, spread: float = 0.15) -> np.ndarray:
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(len(counts), 192))
        noise = spread * np.linalg.norm(centres, axis=1).mean() / 14
        return np.concatenate([c + noise * rng.normal(size=(n, 192)) for c, n in zip(centres, counts, strict=True)])

    def test_finds_the_number_of_well_separated_voices(self) -> None:
        labels = cluster_speakers(self.voices([40, 30, 20]))
        assert sorted(np.bincount(labels).tolist()) == [20, 30, 40]
        assert labels[0] == 0  # numbered by first appearance

    def test_few_windows_are_one_speaker(self) -> None:
        assert set(cluster_speakers(self.voices([5, 4])).tolist()) == {0}

    def test_speaker_hints_pin_the_count(self) -> None:
        x = self.voices([40, 30, 20])
        assert len(set(cluster_speakers(x, max_speakers=2).tolist())) == 2
        assert len(set(cluster_speakers(x, min_speakers=3, max_speakers=3).tolist())) == 3

    def test_a_tiny_cluster_is_folded_into_a_big_one(self) -> None:
        labels = cluster_speakers(self.voices([40, 30, 2]))
        assert len(set(labels.tolist())) == 2

    def test_large_inputs_are_subsampled_but_every_row_is_labelled(self) -> None:
        labels = cluster_speakers(self.voices([600, 450]), config=ClusteringConfig(max_points=200))
        assert labels.shape == (1050,)
        assert sorted(np.bincount(labels).tolist()) == [450, 600]


class TestScoring:
    def test_normalise(self) -> None:
        assert normalise_text("Hello, World! It's an L_C_D_ display -- well-known.") == (
            "hello world it's an lcd display well known"
        )
        assert normalise_text("Um, so uh yes", drop_fillers=True) == "so yes"

    def test_wer_ignores_case_and_punctuation(self) -> None:
        assert wer("Ask not what your country can do.", "ask not, what your Country can do") == 0.0
        assert wer("a b c d", "a x c") == 0.5

    def test_cpwer_finds_the_best_speaker_permutation(self) -> None:
        refs = {"A": "one two three", "B": "four five six seven"}
        hyps = {"SPEAKER_00": "four five six seven", "SPEAKER_01": "one two tree"}
        score, assignment = cp_wer(refs, hyps)
        assert score == pytest.approx(1 / 7)
        assert assignment == {"A": "SPEAKER_01", "B": "SPEAKER_00"}

    def test_cpwer_counts_missing_and_extra_speakers(self) -> None:
        score, _ = cp_wer({"A": "a b", "B": "c d"}, {"X": "a b c d"})
        # X is matched to A (c d are 2 insertions) and B goes unmatched (2 deletions): 4 errors / 4 words
        assert score == pytest.approx(1.0)
        score, _ = cp_wer({"A": "a b"}, {"X": "a b", "Y": "c"})
        assert score == pytest.approx(1 / 2)


class TestExports:
    segments: ClassVar[list[TranscriptSegment]] = [
        TranscriptSegment(
            start=0.0,
            end=2.5,
            speaker="SPEAKER_00",
            text="Hello there.",
            words=[word(0.0, 1.0, "Hello", "SPEAKER_00"), word(1.2, 2.5, "there.", "SPEAKER_00")],
        ),
        TranscriptSegment(
            start=3661.5,
            end=3662.25,
            speaker="SPEAKER_01",
            text="<yes> & no",
            words=[word(3661.5, 3662.25, "<yes> & no", "SPEAKER_01")],
        ),
    ]

    def test_srt(self) -> None:
        assert to_srt(self.segments, {"SPEAKER_00": "Alice"}) == (
            "1\n00:00:00,000 --> 00:00:02,500\nAlice: Hello there.\n\n"
            "2\n01:01:01,500 --> 01:01:02,250\nSPEAKER_01: <yes> & no\n"
        )

    def test_vtt_uses_voice_spans_and_escapes(self) -> None:
        assert to_vtt(self.segments) == (
            "WEBVTT\n\n"
            "00:00:00.000 --> 00:00:02.500\n<v SPEAKER_00>Hello there.\n\n"
            "01:01:01.500 --> 01:01:02.250\n<v SPEAKER_01>&lt;yes&gt; &amp; no\n"
        )

    def test_long_segments_become_several_cues_at_word_boundaries(self) -> None:
        words = [word(i * 1.0, i * 1.0 + 0.8, f"w{i}", "SPEAKER_00") for i in range(20)]
        long = TranscriptSegment(start=0, end=19.8, speaker="SPEAKER_00", text="", words=words)
        srt = to_srt([long], max_cue_seconds=7.0)
        assert srt.count(" --> ") == 3
        assert "SPEAKER_00: w0 w1 w2 w3 w4 w5 w6\n" in srt
        assert "00:00:07,000 --> 00:00:13,800" in srt

    def test_unlabelled_segments_have_no_prefix(self) -> None:
        plain = TranscriptSegment(start=0, end=1, speaker=None, text="hi", words=[word(0, 1, "hi")])
        assert to_srt([plain]).endswith("\nhi\n")


class TestHallucinationGuard:
    @staticmethod
    def segment(no_speech: float, log_prob: float, compression: float) -> SimpleNamespace:
        return SimpleNamespace(no_speech_prob=no_speech, avg_logprob=log_prob, compression_ratio=compression)

    def test_confident_speech_is_kept(self) -> None:
        assert not HallucinationThresholds().rejects(self.segment(0.1, -0.3, 1.5))

    def test_silence_the_model_itself_doubts_is_dropped(self) -> None:
        assert HallucinationThresholds().rejects(self.segment(0.9, -1.4, 1.2))
        # a high no-speech score alone is not enough: quiet but confidently decoded speech stays
        assert not HallucinationThresholds().rejects(self.segment(0.9, -0.5, 1.2))

    def test_looping_text_is_dropped(self) -> None:
        assert HallucinationThresholds().rejects(self.segment(0.0, -0.2, 3.1))


class TestOptions:
    def test_unknown_language_is_a_permanent_error(self) -> None:
        with pytest.raises(PermanentError) as caught:
            validate_options(TranscribeOptions(language="klingon"))
        assert caught.value.code == "unsupported_language"

    def test_inverted_speaker_hints_are_a_permanent_error(self) -> None:
        with pytest.raises(PermanentError) as caught:
            validate_options(TranscribeOptions(min_speakers=4, max_speakers=2))
        assert caught.value.code == "invalid_speaker_hint"


class TestWhisperXWords:
    def test_unaligned_words_borrow_their_neighbours_times(self) -> None:
        from vidpipe_transcriber.whisperx_engine import _timed_words

        segment = {
            "start": 1.0,
            "end": 4.0,
            "words": [
                {"word": "It", "start": 1.0, "end": 1.2, "score": 0.9},
                {"word": "costs"},  # wav2vec2 found no characters it knows
                {"word": "42", "start": None},
                {"word": "dollars", "start": 3.0, "end": 3.6, "score": 0.8},
                {"word": "now"},
            ],
        }
        words = _timed_words(segment, duration=10.0)
        assert [(w.word, w.start, w.end) for w in words] == [
            (" It", 1.0, 1.2),
            (" costs", 1.2, 3.0),
            (" 42", 3.0, 3.0),
            (" dollars", 3.0, 3.6),
            (" now", 3.6, 4.0),
        ]


class TestAsrClock:
    def test_the_bar_moves_during_a_batch_and_never_back_or_past_the_window(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from vidpipe_transcriber import local_engine

        monkeypatch.setattr(local_engine, "TICK_SECONDS", 0.02)
        reported: list[float] = []
        clock = local_engine.AsrClock(reported.append)

        # A 60 s window decoded in 0.3 s with nothing handed over until the end (one batch), estimated at
        # the initial rate: 0.3 s x 4 = 1.2 s of audio at most, well inside the window
        with clock.window(0.0, 60.0):
            time.sleep(0.3)
        clock.reached(30.0)  # a late segment end below what was shown

        assert len(reported) >= 5, reported
        assert reported == sorted(reported)
        assert max(reported[:-1]) <= 0.99 * 60.0
        assert reported[-1] == 60.0
