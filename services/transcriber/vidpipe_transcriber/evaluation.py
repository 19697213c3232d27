"""Scoring helpers for tests and benchmarks: text normalisation, WER, cpWER and DER.

Needs the dev extras (jiwer, pyannote.metrics); imported only by tests and bench, never by the service.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vidpipe_transcriber.models import SpeakerTurn, Transcript

FILLERS = frozenset({"um", "uh", "mm", "hmm", "oh"})
_SPELLED = re.compile(r"\b(?:[a-z]_)+")  # AMI writes spelled letters as L_C_D_
_NOT_WORD = re.compile(r"[^\w\s']")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalise_text(text: str, *, drop_fillers: bool = False) -> str:
    """Lowercase, join spelled letters, hyphens to spaces, drop punctuation but keep in-word apostrophes."""
    text = text.lower().replace("\u2019", "'")
    text = _SPELLED.sub(lambda m: m.group(0).replace("_", ""), text)
    text = text.replace("-", " ").replace("_", " ")
    text = _NOT_WORD.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    words = text.split()
    if drop_fillers:
        words = [w for w in words if w not in FILLERS]
    return " ".join(words)


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions + deletions + insertions between two normalised strings."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        return len(hyp)
    if not hyp:
        return len(ref)
    import jiwer

    out = jiwer.process_words(reference, hypothesis)
    return int(out.substitutions + out.deletions + out.insertions)


def wer(reference: str, hypothesis: str, *, drop_fillers: bool = False) -> float:
    ref = normalise_text(reference, drop_fillers=drop_fillers)
    hyp = normalise_text(hypothesis, drop_fillers=drop_fillers)
    return word_errors(ref, hyp) / max(1, len(ref.split()))


def cp_wer(
    references: Mapping[str, str], hypotheses: Mapping[str, str], *, drop_fillers: bool = False
) -> tuple[float, dict[str, str | None]]:
    """Concatenated minimum-permutation WER and the reference → hypothesis speaker assignment it used.

    Each speaker's words are concatenated; hypothesis speakers are matched one-to-one to reference speakers
    so the total error count is smallest (Hungarian algorithm); unmatched hypothesis speakers count as
    insertions, unmatched reference speakers as deletions. Divided by the number of reference words.
    """
    from scipy.optimize import linear_sum_assignment

    ref_names, hyp_names = sorted(references), sorted(hypotheses)
    refs = [normalise_text(references[n], drop_fillers=drop_fillers) for n in ref_names]
    hyps = [normalise_text(hypotheses[n], drop_fillers=drop_fillers) for n in hyp_names]
    size = max(len(refs), len(hyps))
    refs_padded = refs + [""] * (size - len(refs))
    hyps_padded = hyps + [""] * (size - len(hyps))
    cost = [[word_errors(r, h) for h in hyps_padded] for r in refs_padded]
    rows, cols = linear_sum_assignment(cost)
    errors = sum(cost[r][c] for r, c in zip(rows, cols, strict=True))
    total = sum(len(r.split()) for r in refs)
    assignment: dict[str, str | None] = {
        ref_names[r]: (hyp_names[c] if c < len(hyp_names) else None)
        for r, c in zip(rows, cols, strict=True)
        if r < len(ref_names)
    }
    return errors / max(1, total), assignment


def words_by_speaker(transcript: Transcript) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for word in transcript.words:
        out.setdefault(word.speaker or "unknown", []).append(word.word.strip())
    return {speaker: " ".join(words) for speaker, words in out.items()}


def read_rttm(path: str | Path) -> list[SpeakerTurn]:
    turns = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            turns.append(SpeakerTurn(start=start, end=start + length, speaker=fields[7]))
    return turns


def diarization_error_rate(
    reference: Sequence[SpeakerTurn], hypothesis: Iterable[SpeakerTurn], *, collar: float = 0.5
) -> float:
    """pyannote.metrics DER with overlap scored; `collar` is the total width (0.5 = ±0.25 s)."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns: Iterable[SpeakerTurn]) -> Annotation:
        result = Annotation()
        for i, turn in enumerate(turns):
            result[Segment(turn.start, turn.end), i] = turn.speaker
        return result

    with warnings.catch_warnings():
        # "uem approximated by the union of extents" is exactly what we want scored here.
        warnings.filterwarnings("ignore", message=".*uem.*")
        return float(DiarizationErrorRate(collar=collar)(annotation(reference), annotation(hypothesis)))
