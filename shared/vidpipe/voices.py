"""Voice profiles: a speaker a user names once is recognised by voice in that user's later recordings.

Every transcript speaker keeps its voice, the unit centroid of its diarizer embeddings, with the name of the
embedding model (vectors of two models live in different spaces and are never compared). Naming a speaker
adds that voice to the user's profile of that name (the running mean of its samples' unit vectors, so a
sample can be taken out again exactly when the name is changed back); the transcribe stage then matches each
new speaker against the owner's profiles of the same model:

* cosine similarity of the speaker's voice and the profile's mean, at least `MATCH_THRESHOLD`;
* ahead of the next best profile by at least `MATCH_MARGIN` (two similar voices are not guessed between);
* one profile per speaker and no profile on two speakers of one recording (the more similar pair wins);
* never over a name the user typed, and never a profile the user undid for that speaker.

The thresholds come from bench/voices.py (held-apart pieces of the reference recordings, CAM++); the
confidence shown is the cosine similarity itself. Pure Python: the gateway has no numpy, and the vectors
(192 floats) and profile counts (a user's acquaintances) are small.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from vidpipe.db.queries import queries

# Chosen with bench/voices.py (CAM++, six voices, halves and thirds of the reference recordings held apart):
# at 0.70 every label given to an enrolled voice was right (precision 1.0) and 82 % of them were found; a
# voice with no profile took another's name in 18 % of trials, all of them the two speakers of one recording
# confused with each other (cosine 0.70-0.85). Below 0.70 false accepts climb fast (0.65: 39 %), above it
# recall drops (0.75: 71 %). The margin keeps a voice between two profiles unnamed.
MATCH_THRESHOLD = 0.7
MATCH_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class ProfileVoice:
    id: uuid.UUID
    name: str
    embedding: Sequence[float]


@dataclass(frozen=True, slots=True)
class VoiceMatch:
    label: str
    profile_id: uuid.UUID
    name: str
    confidence: float
    """Cosine similarity of the speaker's voice and the profile's, in [-1, 1]."""


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else [0.0 for _ in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} dimensions cannot be compared")
    return math.fsum(x * y for x, y in zip(unit(a), unit(b), strict=True))


def add_sample(mean: Sequence[float] | None, samples: int, vector: Sequence[float]) -> list[float]:
    """The mean of unit vectors after one more sample."""
    u = unit(vector)
    if mean is None or samples <= 0:
        return u
    return [(m * samples + x) / (samples + 1) for m, x in zip(mean, u, strict=True)]


def remove_sample(mean: Sequence[float], samples: int, vector: Sequence[float]) -> list[float] | None:
    """The mean without one of its samples; None when it was the last one."""
    if samples <= 1:
        return None
    u = unit(vector)
    return [(m * samples - x) / (samples - 1) for m, x in zip(mean, u, strict=True)]


def match_voices(
    speakers: Mapping[str, Sequence[float]],
    profiles: Sequence[ProfileVoice],
    *,
    rejected: Mapping[str, Collection[uuid.UUID]] | None = None,
    taken: Collection[uuid.UUID] = (),
    threshold: float = MATCH_THRESHOLD,
    margin: float = MATCH_MARGIN,
) -> list[VoiceMatch]:
    """Which speaker is which profile (see the module docstring for the rules); sorted by label.

    `rejected`: per speaker, profiles the user undid there. `taken`: profiles already on another speaker
    of the recording (named by the user), which therefore cannot be this one.
    """
    rejected = rejected or {}
    candidates: list[VoiceMatch] = []
    for label, voice in speakers.items():
        scored = sorted(((cosine(voice, p.embedding), p) for p in profiles), key=lambda item: -item[0])
        allowed = [(s, p) for s, p in scored if p.id not in rejected.get(label, ()) and p.id not in taken]
        if not allowed:
            continue
        best, profile = allowed[0]
        # The runner-up counts rejected profiles too: a voice closest to a profile the user said it is not
        # is too ambiguous to be given the next one.
        runner_up = max((s for s, p in scored if p.id != profile.id), default=-1.0)
        if best >= threshold and best - runner_up >= margin:
            candidates.append(VoiceMatch(label=label, profile_id=profile.id, name=profile.name, confidence=best))
    used: set[uuid.UUID] = set()
    matches: list[VoiceMatch] = []
    for match in sorted(candidates, key=lambda m: -m.confidence):
        if match.profile_id not in used:
            used.add(match.profile_id)
            matches.append(match)
    return sorted(matches, key=lambda m: m.label)


async def lock_owner_voices(conn: AsyncConnection[Any], owner_id: uuid.UUID) -> None:
    """Take the owner's voice lock until the transaction ends; call it before the transaction locks anything.

    Naming a speaker, taking a voice back (a name cleared, a video deleted), renaming, deleting or undoing a
    voice, and matching a transcript against the owner's profiles each hold it, so they take turns. Without it
    they lock speakers, profiles and embeddings in different orders (a rename: the speaker, its old profile,
    then its new one; a match: profiles, then speakers) and could deadlock, or a match could label a speaker
    from a profile being emptied and leave that name behind with no profile. Voices change rarely and
    quickly, so one lock per user costs nothing that matters.
    """
    await conn.execute(queries.voice_lock_owner, {"owner_id": owner_id})


async def lock_media_owner_voices(conn: AsyncConnection[Any], media_id: uuid.UUID) -> None:
    """`lock_owner_voices` for the owner of this media (nothing if it is gone)."""
    await conn.execute(queries.voice_lock_owner_of_media, {"media_id": media_id})


async def label_known_voices(
    conn: AsyncConnection[Any],
    transcript_id: uuid.UUID,
    *,
    threshold: float = MATCH_THRESHOLD,
    margin: float = MATCH_MARGIN,
) -> list[VoiceMatch]:
    """Name the transcript's unnamed speakers after the owner's matching profiles (in the caller's transaction).

    Earlier automatic labels are matched afresh (a profile may have learnt since); one that no longer matches
    goes back to the machine label. Names the user typed are never touched, and their profiles are taken.
    The caller holds the owner's voice lock (`lock_owner_voices`).
    """
    params = {"transcript_id": transcript_id}
    rows = await (await conn.execute(queries.voice_transcript_speakers_for_matching, params)).fetchall()
    if not rows:
        return []
    owner_id = rows[0]["owner_id"]
    taken = {r["voice_profile_id"] for r in await (await conn.execute(queries.voice_user_profiles, params)).fetchall()}
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["embedding_model"], []).append(row)
    matches: list[VoiceMatch] = []
    for model, group in by_model.items():
        profile_rows = await (
            await conn.execute(queries.voice_profiles_for_model, {"owner_id": owner_id, "model": model})
        ).fetchall()
        profiles = [ProfileVoice(id=p["id"], name=p["name"], embedding=p["embedding"]) for p in profile_rows]
        found = match_voices(
            {r["label"]: r["embedding"] for r in group},
            profiles,
            rejected={r["label"]: set(r["rejected"]) for r in group},
            taken=taken,
            threshold=threshold,
            margin=margin,
        )
        matched = {m.label for m in found}
        for row in group:
            if row["name_source"] == "voice" and row["label"] not in matched:
                await conn.execute(
                    queries.voice_unset_auto_label, {"transcript_id": transcript_id, "label": row["label"]}
                )
        for match in found:
            await conn.execute(
                queries.voice_set_auto_label,
                {
                    "transcript_id": transcript_id,
                    "label": match.label,
                    "name": match.name,
                    "profile_id": match.profile_id,
                    "confidence": round(match.confidence, 4),
                },
            )
        matches.extend(found)
    return sorted(matches, key=lambda m: m.label)


async def learn_voice(
    conn: AsyncConnection[Any], transcript_id: uuid.UUID, label: str, name: str | None
) -> uuid.UUID | None:
    """After the owner named (or un-named) a speaker: move its voice to their profile of that name.

    Runs in the rename's transaction, after the display name was written (by a rename or by undoing one in
    the edit history). What the speaker gave an earlier name's profile is taken back first, so correcting a
    typo leaves no trace in the wrong profile. The profile is always the transcript owner's, and the caller
    holds the owner's voice lock (`lock_owner_voices`). Returns the profile that now holds the voice, or None
    (no name, or no voice recorded for this speaker).
    """
    row = await (
        await conn.execute(queries.voice_speaker_for_update, {"transcript_id": transcript_id, "label": label})
    ).fetchone()
    if row is None:
        return None
    owner_id = row["owner_id"]
    voice, model = row["embedding"], row["embedding_model"]
    if row["name_source"] == "user" and row["voice_profile_id"] is not None and voice and model:
        await _take_back(conn, row["voice_profile_id"], model, voice)
    profile_id: uuid.UUID | None = None
    if name and voice and model:
        profile = await (
            await conn.execute(queries.voice_insert_profile, {"owner_id": owner_id, "name": name})
        ).fetchone()
        assert profile is not None
        profile_id = profile["id"]
        held = await (
            await conn.execute(queries.voice_embedding_for_update, {"profile_id": profile_id, "model": model})
        ).fetchone()
        samples = held["samples"] if held else 0
        await conn.execute(
            queries.voice_upsert_embedding,
            {
                "profile_id": profile_id,
                "model": model,
                "embedding": add_sample(held["embedding"] if held else None, samples, voice),
                "samples": samples + 1,
            },
        )
    await conn.execute(
        queries.voice_set_user_label,
        {
            "transcript_id": transcript_id,
            "label": label,
            "name_source": "user" if name else None,
            "profile_id": profile_id,
        },
    )
    return profile_id


async def _take_back(conn: AsyncConnection[Any], profile_id: uuid.UUID, model: str, voice: Sequence[float]) -> None:
    held = await (
        await conn.execute(queries.voice_embedding_for_update, {"profile_id": profile_id, "model": model})
    ).fetchone()
    if held is None:
        return
    rest = remove_sample(held["embedding"], held["samples"], voice)
    params: dict[str, Any] = {"profile_id": profile_id, "model": model}
    if rest is None:
        await conn.execute(queries.voice_delete_embedding, params)
        await conn.execute(queries.voice_clear_empty_profile_auto_labels, {"profile_id": profile_id})
        await conn.execute(queries.voice_delete_empty_profile, {"profile_id": profile_id})
    else:
        await conn.execute(
            queries.voice_upsert_embedding, {**params, "embedding": rest, "samples": held["samples"] - 1}
        )


async def forget_media_voices(conn: AsyncConnection[Any], media_id: uuid.UUID) -> int:
    """Before a media is deleted (in the same transaction): take the voices its named speakers gave the
    owner's profiles back out, as if each name had been cleared. A voice is biometric data taken from that
    recording, so it goes with it; a profile learnt only there goes too, with the labels it gave elsewhere.
    The caller holds the owner's voice lock (`lock_owner_voices`). Returns how many voices were taken back."""
    rows = await (await conn.execute(queries.voice_user_named_speakers_of_media, {"media_id": media_id})).fetchall()
    for row in rows:
        await _take_back(conn, row["voice_profile_id"], row["embedding_model"], row["embedding"])
    return len(rows)


async def undo_voice_label(
    conn: AsyncConnection[Any], transcript_id: uuid.UUID, label: str
) -> tuple[str | None, uuid.UUID | None] | None:
    """Back to the machine label, remembering not to suggest that profile there again.

    Returns (the automatic name, its profile), or None when the speaker has no automatic label.
    """
    row = await (
        await conn.execute(queries.voice_clear_auto_label, {"transcript_id": transcript_id, "label": label})
    ).fetchone()
    if row is None:
        return None
    return row["old_name"], row["profile_id"]
