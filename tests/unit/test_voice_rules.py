"""The voice-matching rules of vidpipe.voices (pure logic: no database, no model)."""

from __future__ import annotations

import math
import uuid

import pytest

from vidpipe.voices import ProfileVoice, add_sample, cosine, match_voices, remove_sample


def direction(*weights: float) -> list[float]:
    return [*weights, *([0.0] * (8 - len(weights)))]


A = ProfileVoice(id=uuid.uuid4(), name="Ann", embedding=direction(1.0))
B = ProfileVoice(id=uuid.uuid4(), name="Ben", embedding=direction(0.0, 1.0))


def test_a_close_voice_is_named_with_its_similarity_and_a_far_one_is_not() -> None:
    found = match_voices({"S0": direction(1.0, 0.2), "S1": direction(0.0, 0.0, 1.0)}, [A, B])
    assert [(m.label, m.name) for m in found] == [("S0", "Ann")]
    assert found[0].confidence == pytest.approx(1 / math.sqrt(1.04))


def test_a_voice_between_two_profiles_is_not_guessed() -> None:
    # Cosine 0.707 with both: above the threshold, but nothing sets one apart from the other.
    assert match_voices({"S0": direction(1.0, 1.0)}, [A, B]) == []
    assert match_voices({"S0": direction(1.0, 1.0)}, [A, B], margin=0.0) != []


def test_no_profile_is_given_to_two_speakers_and_the_closer_one_wins() -> None:
    found = match_voices({"S0": direction(1.0, 0.5), "S1": direction(1.0, 0.1)}, [A])
    assert [(m.label, m.name) for m in found] == [("S1", "Ann")]


def test_rejected_and_taken_profiles_are_not_suggested() -> None:
    voice = {"S0": direction(1.0, 0.1)}
    assert match_voices(voice, [A], rejected={"S0": {A.id}}) == []
    assert match_voices(voice, [A], taken={A.id}) == []
    # Closest to a profile the user rejected: the next one is not offered instead
    assert match_voices({"S0": direction(1.0, 0.6)}, [A, B], rejected={"S0": {A.id}}, margin=0.0) == []


def test_samples_are_added_and_taken_back_exactly() -> None:
    one = add_sample(None, 0, direction(2.0))
    two = add_sample(one, 1, direction(0.0, 3.0))
    assert cosine(two, direction(1.0, 1.0)) == pytest.approx(1.0)
    back = remove_sample(two, 2, direction(0.0, 3.0))
    assert back == pytest.approx(direction(1.0))
    assert remove_sample(one, 1, direction(2.0)) is None
    with pytest.raises(ValueError, match="dimensions"):
        cosine([1.0], [1.0, 0.0])
