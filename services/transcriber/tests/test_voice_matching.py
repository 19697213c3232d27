"""Voices for voice profiles, with the real CAM++ model on the repository's own recordings.

A speaker named in one stretch of a recording is recognised in another stretch of it (held apart: no window
is shared), a stranger is not, and the engine hands every speaker its voice. The matching rules themselves
are those of `vidpipe.voices` (thresholds from bench/voices.py).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from vidpipe.testing import shipped_audio
from vidpipe.voices import ProfileVoice, add_sample, cosine, match_voices
from vidpipe_transcriber.audio import SAMPLE_RATE, decode_audio
from vidpipe_transcriber.clustering import speaker_voices
from vidpipe_transcriber.diarizer import (
    EMBEDDING_MODEL,
    CamPlusPlusDiarizer,
    Diarization,
    detect_speech,
    load_campplus_diarizer,
    load_vad,
)
from vidpipe_transcriber.engine import run
from vidpipe_transcriber.evaluation import read_rttm
from vidpipe_transcriber.loader import load_engine
from vidpipe_transcriber.models import SpeakerSummary, SpeakerTurn, TranscribeOptions, Transcript
from vidpipe_transcriber.settings import TranscriberSettings
from vidpipe_transcriber.speakers import attach_voices

JFK = shipped_audio("jfk.flac")
AMI = shipped_audio("ami-mixture.flac")
AMI_RTTM = shipped_audio("ami-mixture.rttm")


@pytest.fixture(scope="module")
def diarizer() -> Iterator[tuple[CamPlusPlusDiarizer, object]]:
    yield load_campplus_diarizer(threads=2), load_vad()


def diarize(parts: tuple[CamPlusPlusDiarizer, object], audio: np.ndarray) -> Diarization:
    model, vad = parts
    return model.diarize_with_voices(audio, detect_speech(audio, vad))


def named(result: Diarization, offset: float, reference: list[SpeakerTurn]) -> dict[str, list[float]]:
    """Each voice under the reference speaker its turns overlap most: what a user naming speakers would do."""
    out: dict[str, list[float]] = {}
    for raw, voice in result.voices.items():
        overlap: dict[str, float] = {}
        for turn in (t for t in result.turns if t.speaker == raw):
            for ref in reference:
                shared = min(turn.end + offset, ref.end) - max(turn.start + offset, ref.start)
                if shared > 0:
                    overlap[ref.speaker] = overlap.get(ref.speaker, 0.0) + shared
        if overlap:
            out[max(overlap, key=lambda k: overlap[k])] = voice
    return out


@pytest.mark.models
def test_voices_named_in_one_stretch_are_recognised_in_another_and_strangers_are_not(
    diarizer: tuple[CamPlusPlusDiarizer, object],
) -> None:
    ami, jfk = decode_audio(AMI), decode_audio(JFK)
    reference = [SpeakerTurn(start=t.start, end=t.end, speaker=t.speaker) for t in read_rttm(AMI_RTTM)]
    half = ami.shape[0] // 2
    whole_jfk = [SpeakerTurn(start=0.0, end=jfk.shape[0] / SAMPLE_RATE, speaker="JFK")]
    jfk_half = jfk.shape[0] // 2

    # Given the meeting's first half and Kennedy's first sentence, named by the user
    enrolled = named(diarize(diarizer, ami[:half]), 0.0, reference)
    enrolled |= named(diarize(diarizer, jfk[:jfk_half]), 0.0, whole_jfk)
    assert "JFK" in enrolled and len(enrolled) >= 3
    profiles = [
        ProfileVoice(id=uuid.uuid5(uuid.NAMESPACE_OID, who), name=who, embedding=add_sample(None, 0, voice))
        for who, voice in enrolled.items()
    ]

    # When the other halves are diarized and matched against those profiles
    tests = named(diarize(diarizer, ami[half:]), half / SAMPLE_RATE, reference)
    tests |= named(diarize(diarizer, jfk[jfk_half:]), jfk_half / SAMPLE_RATE, whole_jfk)
    found = {m.label: m for m in match_voices(tests, profiles)}

    # Then no speaker gets someone else's name, and Kennedy and the meeting's main voice are recognised
    assert all(m.name == who for who, m in found.items()), {who: m.name for who, m in found.items()}
    assert {"JFK", "FEE016"} <= set(found), sorted(found)
    assert all(m.confidence >= 0.7 for m in found.values())
    # And a voice whose profile is missing stays unnamed rather than taking the nearest other one
    for who, voice in tests.items():
        others = [p for p in profiles if p.name != who]
        assert match_voices({who: voice}, others) == [], who


@pytest.mark.models
def test_the_engine_gives_each_speaker_its_voice() -> None:
    engine = load_engine(TranscriberSettings(model="tiny.en"))
    transcript = run(engine, JFK, TranscribeOptions(language="en"))
    assert transcript.embedding_model == EMBEDDING_MODEL
    [speaker] = transcript.speakers
    assert len(speaker.embedding) == 192
    assert math.isclose(math.sqrt(sum(x * x for x in speaker.embedding)), 1.0, abs_tol=1e-4)
    # Without diarization there are no speakers, so no voices either
    plain = run(engine, JFK, TranscribeOptions(language="en", diarize=False))
    assert plain.speakers == [] and plain.embedding_model == ""


def test_a_voice_is_the_mean_of_its_preferred_windows_and_short_speakers_get_none() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=192), rng.normal(size=192)
    embeddings = np.stack([a, a, a, b, a + b, np.zeros(192), b, b])
    labels = np.asarray([0, 0, 0, 1, 0, 0, 1, 1])
    preferred = np.asarray([True, True, True, True, False, True, True, True])
    voices = speaker_voices(embeddings, labels, preferred, min_windows=3)
    # Without a preference every embedded window counts (what the diarizer does)
    everything = speaker_voices(embeddings, labels, min_windows=3)
    assert cosine(everything[0], (3 * a / np.linalg.norm(a) + (a + b) / np.linalg.norm(a + b)).tolist()) > 0.9999
    # Speaker 0: the three preferred copies of `a` (the boundary window a+b and the never-embedded zeros left out)
    assert cosine(voices[0], a.tolist()) > 0.9999
    assert cosine(voices[1], b.tolist()) > 0.9999
    # Asking for four windows: speaker 0 falls back to all its usable windows (the boundary one too), and
    # speaker 1, with three, gets no voice
    four = speaker_voices(embeddings, labels, preferred, min_windows=4)
    assert set(four) == {0}
    assert cosine(four[0], a.tolist()) < cosine(voices[0], a.tolist())


def test_voices_follow_the_relabelling_of_speakers() -> None:
    # The diarizer's raw labels become SPEAKER_xx by first appearance; each voice must follow its speaker.
    raw = [SpeakerTurn(start=0, end=1, speaker="raw1"), SpeakerTurn(start=1, end=2, speaker="raw0")]
    labelled = [SpeakerTurn(start=0, end=1, speaker="SPEAKER_00"), SpeakerTurn(start=1, end=2, speaker="SPEAKER_01")]
    transcript = Transcript(
        segments=[],
        turns=labelled,
        speakers=[SpeakerSummary(label="SPEAKER_00"), SpeakerSummary(label="SPEAKER_01")],
    )
    out = attach_voices(transcript, raw, {"raw0": [0.0, 1.0], "raw1": [1.0, 0.0]}, "m")
    assert {s.label: s.embedding for s in out.speakers} == {"SPEAKER_00": [1.0, 0.0], "SPEAKER_01": [0.0, 1.0]}
    assert out.embedding_model == "m"
    assert attach_voices(transcript, raw, {}, "m") is transcript
