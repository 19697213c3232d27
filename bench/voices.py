"""Voice-profile matching accuracy on held-apart recordings of the same voices (local CAM++ diarizer).

    .venv/bin/python bench/voices.py [--threshold 0.5] [--margin 0.1]

What the product does, end to end but without ASR: each recording (jfk, pyannote-sample, ami-mixture: six
voices with enough speech; AMI's MEE014 speaks 1.2 s and only ever appears as a test speaker) is cut into
halves and into thirds. In one fold, one piece of every recording is *enrolment*: it is diarized, each
speaker found is named after the reference speaker it overlaps most (as a user would name it), and its voice
goes into that name's profile; another piece of every recording is the *test*: it is diarized and each
speaker with a voice is matched against all profiles (the pool of every voice, as one user's library would
be) with `vidpipe.voices.match_voices`. Folds: halves (1→2, 2→1) and thirds (every ordered pair), so each
enrolment and test piece is a different stretch of the recording.

Per test speaker: a genuine trial (its own voice is enrolled): correct when labelled with it, a false
accept when labelled with another voice, a miss when left unlabelled. An impostor trial: the same speaker
matched against the pool without its own voice; any label is a false accept.
precision = correct / labels given in genuine trials; recall = correct / genuine trials;
false-accept rate = impostor trials labelled / impostor trials. Also swept over thresholds.

Writes bench/results/voices.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidpipe.testing import reference_audio_dir
from vidpipe.voices import MATCH_MARGIN, MATCH_THRESHOLD, ProfileVoice, add_sample, cosine, match_voices

REPO = Path(__file__).resolve().parents[1]
AUDIO = reference_audio_dir()
RESULTS = REPO / "bench" / "results" / "voices.json"
RECORDINGS = ["jfk", "pyannote-sample", "ami-mixture"]
SWEEP = [round(0.30 + 0.05 * i, 2) for i in range(11)]


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Piece:
    recording: str
    index: int
    of: int
    seconds: float
    owners: list[str | None]  # per diarizer window: the reference speaker it overlaps most
    labels: list[int]  # per window: the diarizer's cluster
    embeddings: list[list[float]]
    preferred: dict[str, list[bool]]  # per voice recipe: which windows it prefers

    def clusters(self, recipe: str) -> list[tuple[str, list[float]]]:
        """(who, voice) per cluster that has a voice: named after the reference speaker most of it is."""
        import numpy as np

        from vidpipe_transcriber.clustering import speaker_voices
        from vidpipe_transcriber.diarizer import MIN_VOICE_WINDOWS

        labels = np.asarray(self.labels, dtype=np.int64)
        preferred = np.asarray(self.preferred[recipe], dtype=bool)
        voices = speaker_voices(np.asarray(self.embeddings), labels, preferred, min_windows=MIN_VOICE_WINDOWS)
        out = []
        for label, voice in voices.items():
            owners = [o for o, lab in zip(self.owners, self.labels, strict=True) if lab == label and o]
            if owners:
                out.append((max(set(owners), key=owners.count), voice))
        return out


def reference_turns(name: str, duration: float) -> list[Turn]:
    from vidpipe_transcriber.evaluation import read_rttm

    rttm = AUDIO / f"{name}.rttm"
    if not rttm.exists():
        return [Turn(0.0, duration, name.upper())]  # jfk: one voice throughout
    return [Turn(t.start, t.end, t.speaker) for t in read_rttm(rttm)]


def owner_of(start: float, end: float, reference: list[Turn]) -> str | None:
    overlap: dict[str, float] = {}
    for turn in reference:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    return max(overlap, key=lambda k: overlap[k]) if overlap else None


def diarize_pieces(of: int) -> list[Piece]:
    from vidpipe_transcriber.audio import SAMPLE_RATE, decode_audio
    from vidpipe_transcriber.diarizer import WINDOW_SECONDS, detect_speech, load_campplus_diarizer, load_vad

    vad, diarizer = load_vad(), load_campplus_diarizer(threads=2)
    pieces: list[Piece] = []
    for name in RECORDINGS:
        audio = decode_audio(AUDIO / f"{name}.wav")
        duration = audio.shape[0] / SAMPLE_RATE
        reference = reference_turns(name, duration)
        step = duration / of
        for index in range(of):
            lo, hi = index * step, (index + 1) * step
            chunk = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)]
            result = diarizer.diarize_with_voices(chunk, detect_speech(chunk, vad))
            if result.embeddings is None or result.labels is None:
                continue
            labels = result.labels.tolist()
            full = [bool(end - start >= WINDOW_SECONDS - 1e-6) for start, end in result.windows]
            steady = [
                f and all(labels[j] == labels[i] for j in (i - 1, i + 1) if 0 <= j < len(labels))
                for i, f in enumerate(full)
            ]
            pieces.append(
                Piece(
                    recording=name,
                    index=index,
                    of=of,
                    seconds=hi - lo,
                    owners=[owner_of(start + lo, end + lo, reference) for start, end in result.windows],
                    labels=labels,
                    embeddings=result.embeddings.tolist(),
                    preferred={"all": [True] * len(labels), "full": full, "steady": steady},
                )
            )
    return pieces


Fold = tuple[list[Piece], list[Piece]]
RECIPES = ("all", "full", "steady")
"""Which windows make a voice: all embedded ones (the product's), full-length ones, full-length ones inside a
run of one speaker (no turn edge)."""


def run_fold(enrol: list[Piece], test: list[Piece], recipe: str, threshold: float, margin: float) -> dict[str, Any]:
    profiles: dict[str, tuple[list[float] | None, int]] = {}
    for piece in enrol:
        for who, voice in piece.clusters(recipe):
            mean, samples = profiles.get(who, (None, 0))
            profiles[who] = (add_sample(mean, samples, voice), samples + 1)
    pool = [
        ProfileVoice(id=uuid.uuid5(uuid.NAMESPACE_OID, who), name=who, embedding=mean or [])
        for who, (mean, _) in profiles.items()
    ]
    counts: dict[str, Any] = {"genuine": 0, "correct": 0, "wrong": 0, "missed": 0, "impostor": 0, "false_accept": 0}
    confusions: list[str] = []
    for piece in test:
        for who, voice in piece.clusters(recipe):
            if who in profiles:
                counts["genuine"] += 1
                found = match_voices({"x": voice}, pool, threshold=threshold, margin=margin)
                if not found:
                    counts["missed"] += 1
                elif found[0].name == who:
                    counts["correct"] += 1
                else:
                    counts["wrong"] += 1
                    confusions.append(f"{who} labelled {found[0].name} ({found[0].confidence:.2f})")
            # The same voice against everyone else's profiles: it should stay unlabelled.
            others = [p for p in pool if p.name != who]
            counts["impostor"] += 1
            if found_other := match_voices({"x": voice}, others, threshold=threshold, margin=margin):
                counts["false_accept"] += 1
                confusions.append(
                    f"{who} (not enrolled) labelled {found_other[0].name} ({found_other[0].confidence:.2f})"
                )
    counts["confusions"] = confusions
    return counts


def evaluate(folds: list[Fold], recipe: str, threshold: float, margin: float) -> dict[str, Any]:
    total: dict[str, Any] = {"confusions": []}
    for enrol, test in folds:
        for key, value in run_fold(enrol, test, recipe, threshold, margin).items():
            total[key] = total.get(key, 0) + value if key != "confusions" else total[key] + value
    labelled = total["correct"] + total["wrong"]
    return {
        **{k: v for k, v in total.items() if k != "confusions"},
        "precision": round(total["correct"] / labelled, 4) if labelled else 1.0,
        "recall": round(total["correct"] / total["genuine"], 4) if total["genuine"] else 0.0,
        "false_accept_rate": round(total["false_accept"] / total["impostor"], 4) if total["impostor"] else 0.0,
        "confusions": sorted(set(total["confusions"])),
    }


def similarities(folds: list[Fold], recipe: str) -> dict[str, Any]:
    """Cosine of every test voice with every enrolled voice: same speaker, different speakers."""
    same: list[float] = []
    different: list[float] = []
    for enrol, test in folds:
        for e_piece, t_piece in itertools.product(enrol, test):
            for who_e, enrolled in e_piece.clusters(recipe):
                for who_t, voice in t_piece.clusters(recipe):
                    (same if who_e == who_t else different).append(round(cosine(enrolled, voice), 4))
    same.sort()
    different.sort()
    return {
        "same_min": same[0] if same else None,
        "same_median": same[len(same) // 2] if same else None,
        "different_max": different[-1] if different else None,
        "different_median": different[len(different) // 2] if different else None,
        "same_pairs": len(same),
        "different_pairs": len(different),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=MATCH_THRESHOLD)
    parser.add_argument("--margin", type=float, default=MATCH_MARGIN)
    parser.add_argument("--cache", type=Path, help="keep the diarized pieces here and reuse them (tuning runs)")
    args = parser.parse_args()
    if not AUDIO.is_dir():
        print(f"reference audio not found at {AUDIO} (set VIDPIPE_REFERENCE_DATA)", file=sys.stderr)
        return 2
    began = time.perf_counter()
    from_cache = bool(args.cache and args.cache.exists())
    if args.cache and args.cache.exists():
        cached = json.loads(args.cache.read_text())
        halves, thirds = ([Piece(**p) for p in cached[k]] for k in ("halves", "thirds"))
    else:
        halves, thirds = diarize_pieces(2), diarize_pieces(3)
        if args.cache:
            args.cache.write_text(
                json.dumps(
                    {"halves": [vars(p) for p in halves], "thirds": [vars(p) for p in thirds]},
                    default=lambda value: value.item(),  # numpy scalars
                )
            )

    def by_index(pieces: list[Piece], i: int) -> list[Piece]:
        return [p for p in pieces if p.index == i]

    folds = [(by_index(halves, a), by_index(halves, b)) for a, b in itertools.permutations(range(2), 2)]
    folds += [(by_index(thirds, a), by_index(thirds, b)) for a, b in itertools.permutations(range(3), 2)]
    recipes = {
        recipe: {
            "at_threshold": evaluate(folds, recipe, args.threshold, args.margin),
            "similarity": similarities(folds, recipe),
            "sweep": {
                str(t): {
                    k: v
                    for k, v in evaluate(folds, recipe, t, args.margin).items()
                    if k in ("precision", "recall", "false_accept_rate")
                }
                for t in SWEEP
            },
        }
        for recipe in RECIPES
    }
    product = recipes["all"]
    chosen = product["at_threshold"]
    voices_seen = sorted({who for p in halves + thirds for who, _ in p.clusters("all")})
    result = {
        "command": "python bench/voices.py",
        "embedding_model": "cam++/campplus_cn_en_common",
        "recordings": RECORDINGS,
        "voices": voices_seen,
        "folds": "halves 1->2, 2->1; thirds every ordered pair (8 folds)",
        "threshold": args.threshold,
        "margin": args.margin,
        "at_threshold": chosen,
        "recipes": recipes,
        "wall_s": round(time.perf_counter() - began, 1),
        "diarized_from_cache": from_cache,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"voices: {', '.join(voices_seen)}; {chosen['genuine']} genuine and {chosen['impostor']} impostor trials")
    for recipe, found in recipes.items():
        sim = found["similarity"]
        print(
            f"[{recipe}] cosine same voice min {sim['same_min']} median {sim['same_median']} ({sim['same_pairs']}); "
            f"different max {sim['different_max']} median {sim['different_median']} ({sim['different_pairs']})"
        )
        print(f"  {'threshold':>9} {'precision':>9} {'recall':>7} {'FAR':>7}")
        for t, r in found["sweep"].items():
            mark = " <- chosen" if float(t) == args.threshold else ""
            print(f"  {t:>9} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['false_accept_rate']:>7.3f}{mark}")
    print(
        f"at threshold {args.threshold} (margin {args.margin}), product recipe: precision {chosen['precision']:.3f}, "
        f"recall {chosen['recall']:.3f}, false-accept rate {chosen['false_accept_rate']:.3f}"
    )
    for line in chosen["confusions"]:
        print(f"  {line}")
    print(f"wrote {RESULTS.relative_to(REPO)} in {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
