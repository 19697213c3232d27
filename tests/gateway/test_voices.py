"""Voice profiles through the API on real Postgres: naming a speaker teaches a voice, the transcribe stage's own
persist code labels the owner's later recordings with it, and the user can undo, rename and forget voices.

Voices here are synthetic unit vectors (random 192-dim directions are nearly orthogonal; the same voice is
its direction plus a little noise), so the tests are about the rules, not the model; the model is tested on
real recordings in services/transcriber/tests/test_voice_matching.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar.testing import AsyncTestClient
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from vidpipe.messages import TranscribeRequest
from vidpipe.settings import Settings
from vidpipe.transcript import SpeakerSummary, Transcript, TranscriptSegment, TranscriptWord
from vidpipe_gateway.services import delete_media_rows
from vidpipe_transcriber.handler import persist_transcript

from .conftest import auth, uploaded_and_started

MODEL = "test/voices-192"


def voice(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(192)]


def same_voice(base: list[float], seed: int, noise: float = 0.3) -> list[float]:
    """Another recording of the same voice: cosine with `base` ≈ 1 / sqrt(1 + noise²) ≈ 0.96."""
    rng = random.Random(seed)
    return [x + rng.gauss(0.0, noise) for x in base]


ALICE, CAROL, DAVE = voice(1), voice(2), voice(3)


async def transcribed(
    client: AsyncTestClient[Any], user: str, voices: list[list[float] | None], *, model: str = MODEL
) -> tuple[TranscribeRequest, Transcript]:
    """A started video and the transcript the transcriber made of it: speakers SPEAKER_00… with these voices."""
    started = await uploaded_and_started(client, user)
    segments = []
    for i in range(len(voices)):
        label = f"SPEAKER_{i:02d}"
        word = TranscriptWord(start=2.0 * i, end=2.0 * i + 1.0, word=f" words{i}", speaker=label)
        segments.append(TranscriptSegment(start=word.start, end=word.end, text=word.word, speaker=label, words=[word]))
    transcript = Transcript(
        language="en",
        duration=2.0 * len(voices),
        engine="test-data",
        model="none",
        segments=segments,
        words=[w for s in segments for w in s.words],
        speakers=[
            SpeakerSummary(label=f"SPEAKER_{i:02d}", speech_seconds=1.0, word_count=1, embedding=v or [])
            for i, v in enumerate(voices)
        ],
        embedding_model=model,
    )
    message = TranscribeRequest(
        task_id=uuid.UUID(started["task_id"]), media_id=uuid.UUID(started["media_id"]), trace_id="t", audio_key="a"
    )
    return message, transcript


async def persist(conn: AsyncConnection[Any], message: TranscribeRequest, transcript: Transcript) -> None:
    """What the transcriber's persist step does (voice matching included), in the caller's transaction."""
    await persist_transcript(uuid.uuid4(), message, transcript)(conn)
    await conn.execute("UPDATE tasks SET status = 'COMPLETED', finished_at = now() WHERE id = %s", (message.task_id,))


async def video_with_voices(
    client: AsyncTestClient[Any],
    pool: AsyncConnectionPool[Any],
    user: str,
    voices: list[list[float] | None],
    *,
    model: str = MODEL,
) -> str:
    """A processed video whose speakers SPEAKER_00… have these voices, stored by the transcriber's persist."""
    message, transcript = await transcribed(client, user, voices, model=model)
    async with pool.connection() as conn, conn.transaction():
        await persist(conn, message, transcript)
    return str(message.media_id)


async def speakers(client: AsyncTestClient[Any], media_id: str, user: str = "alice") -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/media/{media_id}", headers=auth(user))
    assert response.status_code == 200, response.text
    return {s["label"]: s for s in response.json()["transcript"]["speakers"]}


async def name(client: AsyncTestClient[Any], media_id: str, names: dict[str, str | None], user: str = "alice") -> Any:
    response = await client.patch(f"/api/media/{media_id}/speakers", json={"names": names}, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


async def voices(client: AsyncTestClient[Any], user: str = "alice") -> list[dict[str, Any]]:
    response = await client.get("/api/voices", headers=auth(user))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


async def test_a_named_voice_labels_the_owners_next_video_with_its_confidence(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given Alice named the first speaker of her first video
    first = await video_with_voices(client, pool, "alice", [ALICE, CAROL])
    renamed = await name(client, first, {"SPEAKER_00": "Alice"})
    assert renamed["speakers"][0] == {"label": "SPEAKER_00", "name": "Alice"}  # typed: no voice fields
    [profile] = await voices(client)
    assert (profile["name"], profile["samples"], profile["models"], profile["speakers"]) == ("Alice", 1, [MODEL], 1)

    # When a later video of hers has that voice (second this time) beside a stranger
    second = await video_with_voices(client, pool, "alice", [DAVE, same_voice(ALICE, 10)])

    # Then that speaker is labelled automatically, with the match's confidence, and the stranger is not
    found = await speakers(client, second)
    assert found["SPEAKER_01"]["name"] == "Alice"
    assert found["SPEAKER_01"]["name_source"] == "voice"
    assert 0.9 < found["SPEAKER_01"]["voice_confidence"] <= 1.0
    assert found["SPEAKER_00"] == {"label": "SPEAKER_00", "name": None}
    # An automatic label teaches nothing: the profile still holds the one sample the user gave
    assert (await voices(client))[0]["samples"] == 1
    # Subtitles use the recognised name like any other
    srt = await client.get(f"/api/media/{second}/transcript.srt", headers=auth("alice"))
    assert srt.status_code == 200 and "Alice" in srt.text


async def test_undo_restores_the_machine_label_and_the_voice_is_not_suggested_there_again(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    first = await video_with_voices(client, pool, "alice", [ALICE])
    await name(client, first, {"SPEAKER_00": "Alice"})
    second = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 11)])
    assert (await speakers(client, second))["SPEAKER_00"]["name"] == "Alice"

    # When she undoes the automatic label
    undone = await client.delete(f"/api/media/{second}/speakers/SPEAKER_00/voice", headers=auth("alice"))

    # Then the machine label is back, the undo is in the edit history, and matching again keeps it off
    assert undone.status_code == 200, undone.text
    assert undone.json()["speakers"][0] == {"label": "SPEAKER_00", "name": None}
    edits = (await client.get(f"/api/media/{second}/edits", headers=auth("alice"))).json()
    assert [(e["target_key"], e["old_value"], e["new_value"]) for e in edits] == [("SPEAKER_00", "Alice", None)]
    again = await client.post(f"/api/media/{second}/speakers/voices", headers=auth("alice"))
    assert again.status_code == 200 and again.json()["speakers"][0]["name"] is None
    # Undoing twice is a clear error, and a name the user typed is not an automatic one to undo
    twice = await client.delete(f"/api/media/{second}/speakers/SPEAKER_00/voice", headers=auth("alice"))
    assert (twice.status_code, twice.json()["code"]) == (409, "no_voice_label")
    typed = await client.delete(f"/api/media/{first}/speakers/SPEAKER_00/voice", headers=auth("alice"))
    assert typed.status_code == 409
    unknown = await client.delete(f"/api/media/{second}/speakers/SPEAKER_09/voice", headers=auth("alice"))
    assert unknown.status_code == 409
    control = await client.delete(f"/api/media/{second}/speakers/SPEAKER%0100/voice", headers=auth("alice"))
    assert (control.status_code, control.json()["code"]) == (422, "invalid_characters")
    assert (await speakers(client, first))["SPEAKER_00"]["name"] == "Alice"


async def test_match_now_labels_an_older_video_after_a_voice_was_named_elsewhere(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given a video processed before Alice's voice had a name
    older = await video_with_voices(client, pool, "alice", [CAROL, same_voice(ALICE, 12)])
    assert (await speakers(client, older))["SPEAKER_01"]["name"] is None
    newer = await video_with_voices(client, pool, "alice", [ALICE])
    await name(client, newer, {"SPEAKER_00": "Alice"})

    # When she asks the older one to match her voices
    matched = await client.post(f"/api/media/{older}/speakers/voices", headers=auth("alice"))

    # Then the voice is found there too, and only there
    assert matched.status_code == 200, matched.text
    by_label = {s["label"]: s for s in matched.json()["speakers"]}
    assert (by_label["SPEAKER_01"]["name"], by_label["SPEAKER_01"]["name_source"]) == ("Alice", "voice")
    assert by_label["SPEAKER_00"]["name"] is None


async def test_voice_profiles_are_never_shared_between_users(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given Alice taught her voice profile "Alice"
    first = await video_with_voices(client, pool, "alice", [ALICE])
    await name(client, first, {"SPEAKER_00": "Alice"})
    [profile] = await voices(client)

    # When Bob processes a recording of the same voice
    bobs = await video_with_voices(client, pool, "bob", [same_voice(ALICE, 13)])

    # Then nothing of Alice's is used or visible to him
    assert (await speakers(client, bobs, "bob"))["SPEAKER_00"]["name"] is None
    assert await voices(client, "bob") == []
    rename = await client.patch(f"/api/voices/{profile['id']}", json={"name": "Mallory"}, headers=auth("bob"))
    assert rename.status_code == 404
    assert (await client.delete(f"/api/voices/{profile['id']}", headers=auth("bob"))).status_code == 404
    assert (await voices(client))[0]["name"] == "Alice"
    # Bob's matching runs on his profiles only, and he cannot touch Alice's transcripts' labels
    bob_match = await client.post(f"/api/media/{bobs}/speakers/voices", headers=auth("bob"))
    assert bob_match.json()["speakers"][0]["name"] is None
    second = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 14)])
    for attempt in (
        client.delete(f"/api/media/{second}/speakers/SPEAKER_00/voice", headers=auth("bob")),
        client.post(f"/api/media/{second}/speakers/voices", headers=auth("bob")),
    ):
        assert (await attempt).status_code == 404
    # A reader of public media sees the name but still may not change it
    await client.patch(f"/api/media/{second}", json={"visibility": "public"}, headers=auth("alice"))
    assert (await speakers(client, second, "bob"))["SPEAKER_00"]["name"] == "Alice"
    forbidden = await client.delete(f"/api/media/{second}/speakers/SPEAKER_00/voice", headers=auth("bob"))
    assert forbidden.status_code == 403
    assert (await speakers(client, second))["SPEAKER_00"]["name_source"] == "voice"
    # And without a token there is nothing at all
    assert (await client.get("/api/voices")).status_code == 401


async def test_renaming_and_deleting_a_profile(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    first = await video_with_voices(client, pool, "alice", [ALICE, CAROL])
    await name(client, first, {"SPEAKER_00": "Alice", "SPEAKER_01": "Carol"})
    second = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 15)])
    profiles = {p["name"]: p for p in await voices(client)}
    alice = profiles["Alice"]["id"]

    # Renaming: a clash and an empty name are clear errors that change nothing
    clash = await client.patch(f"/api/voices/{alice}", json={"name": "Carol"}, headers=auth("alice"))
    assert (clash.status_code, clash.json()["code"]) == (409, "voice_name_taken")
    blank = await client.patch(f"/api/voices/{alice}", json={"name": "   "}, headers=auth("alice"))
    assert blank.status_code == 400
    missing = await client.patch(f"/api/voices/{uuid.uuid4()}", json={"name": "X"}, headers=auth("alice"))
    assert missing.status_code == 404
    # A rename carries the speakers named after the voice with it (typed and automatic alike)
    renamed = await client.patch(f"/api/voices/{alice}", json={"name": "Alice Smith"}, headers=auth("alice"))
    assert renamed.status_code == 200 and renamed.json()["name"] == "Alice Smith"
    assert (await speakers(client, first))["SPEAKER_00"]["name"] == "Alice Smith"
    assert (await speakers(client, second))["SPEAKER_00"]["name"] == "Alice Smith"
    history = (await client.get(f"/api/media/{second}/edits", headers=auth("alice"))).json()
    assert [(e["old_value"], e["new_value"]) for e in history] == [("Alice", "Alice Smith")]

    # Deleting forgets the voice: its automatic labels go, the names she typed stay
    assert (await client.delete(f"/api/voices/{alice}", headers=auth("alice"))).status_code == 204
    assert (await speakers(client, second))["SPEAKER_00"]["name"] is None
    assert (await speakers(client, first))["SPEAKER_00"] == {"label": "SPEAKER_00", "name": "Alice Smith"}
    assert [p["name"] for p in await voices(client)] == ["Carol"]
    third = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 16)])
    assert (await speakers(client, third))["SPEAKER_00"]["name"] is None


async def test_correcting_a_name_moves_the_voice_and_clearing_it_takes_it_back(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    first = await video_with_voices(client, pool, "alice", [ALICE])
    await name(client, first, {"SPEAKER_00": "Alcie"})
    await name(client, first, {"SPEAKER_00": "Alice"})
    assert [(p["name"], p["samples"]) for p in await voices(client)] == [("Alice", 1)]
    # A second recording named the same adds a sample (the profile is the mean of both)
    second = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 17)])
    await name(client, second, {"SPEAKER_00": "Alice"})  # confirms the automatic label
    assert [(p["name"], p["samples"]) for p in await voices(client)] == [("Alice", 2)]
    # Undoing the correction in the edit history moves the first video's voice back to the old name
    history = (await client.get(f"/api/media/{first}/edits", headers=auth("alice"))).json()
    correction = next(e for e in history if e["new_value"] == "Alice")
    undo = await client.post(f"/api/media/{first}/edits/{correction['id']}/undo", headers=auth("alice"))
    assert undo.status_code == 200, undo.text
    assert [(p["name"], p["samples"]) for p in await voices(client)] == [("Alcie", 1), ("Alice", 1)]
    await name(client, first, {"SPEAKER_00": None})
    await name(client, second, {"SPEAKER_00": None})
    assert await voices(client) == []


async def test_one_profile_per_speaker_and_voices_of_other_models_are_never_compared(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    first = await video_with_voices(client, pool, "alice", [ALICE])
    await name(client, first, {"SPEAKER_00": "Alice"})
    # Two speakers both close to Alice's voice: only the closer one gets the name
    both = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 18, 0.6), same_voice(ALICE, 19, 0.2)])
    found = await speakers(client, both)
    assert (found["SPEAKER_00"]["name"], found["SPEAKER_01"]["name"]) == (None, "Alice")
    # The same voice from another embedding model lives in another space: no label
    other = await video_with_voices(client, pool, "alice", [ALICE], model="another/model")
    assert (await speakers(client, other))["SPEAKER_00"]["name"] is None
    # A speaker the diarizer gave no voice (too little speech) can still be named; it simply teaches nothing
    silent = await video_with_voices(client, pool, "alice", [None])
    named = await name(client, silent, {"SPEAKER_00": "Zoe"})
    assert named["speakers"][0]["name"] == "Zoe"
    assert [p["name"] for p in await voices(client)] == ["Alice"]


async def test_deleting_a_video_takes_back_the_voices_learnt_from_it(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    # Given Alice is named in two videos (two samples) and Carol only in the first, which later labelled Carol
    first = await video_with_voices(client, pool, "alice", [ALICE, CAROL])
    await name(client, first, {"SPEAKER_00": "Alice", "SPEAKER_01": "Carol"})
    second = await video_with_voices(client, pool, "alice", [same_voice(ALICE, 20)])
    await name(client, second, {"SPEAKER_00": "Alice"})
    heard_carol = await video_with_voices(client, pool, "alice", [same_voice(CAROL, 21)])
    assert (await speakers(client, heard_carol))["SPEAKER_00"]["name"] == "Carol"
    assert {(p["name"], p["samples"]) for p in await voices(client)} == {("Alice", 2), ("Carol", 1)}

    # When she deletes the first video
    assert (await client.delete(f"/api/media/{first}", headers=auth("alice"))).status_code == 204

    # Then its voices left her profiles: Alice keeps the other video's sample, Carol (learnt only there) is
    # gone, and so is the name Carol's voice gave another video
    assert [(p["name"], p["samples"]) for p in await voices(client)] == [("Alice", 1)]
    assert (await speakers(client, heard_carol))["SPEAKER_00"] == {"label": "SPEAKER_00", "name": None}
    assert (await speakers(client, second))["SPEAKER_00"]["name"] == "Alice"  # a typed name stays
    # And later videos are matched against what is left
    later = await video_with_voices(client, pool, "alice", [same_voice(CAROL, 22), same_voice(ALICE, 23)])
    found = await speakers(client, later)
    assert (found["SPEAKER_00"]["name"], found["SPEAKER_01"]["name"]) == (None, "Alice")


@contextlib.asynccontextmanager
async def connection(settings: Settings) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection of its own, outside the pools, for a transaction that must run beside another."""
    async with await AsyncConnection.connect(settings.db.url.get_secret_value(), row_factory=dict_row) as conn:
        yield conn


async def delete_video(settings: Settings, media_id: str) -> None:
    """What deleting a video does to the database (its objects aside), in a transaction of its own."""
    async with connection(settings) as conn, conn.transaction():
        await delete_media_rows(conn, uuid.UUID(media_id), owner_id=await owner_of(conn, media_id))


async def owner_of(conn: AsyncConnection[Any], media_id: str) -> uuid.UUID:
    row = await (await conn.execute("SELECT owner_id FROM media WHERE id = %s", (media_id,))).fetchone()
    assert row is not None
    owner: uuid.UUID = row["owner_id"]
    return owner


async def blocked(settings: Settings, task: asyncio.Future[None]) -> bool:
    """Whether `task` comes to wait on another transaction's lock (within 10 s) instead of finishing."""
    async with connection(settings) as conn:
        for _ in range(200):
            if task.done():
                return False
            row = await (
                await conn.execute(
                    "SELECT count(*) AS waiting FROM pg_stat_activity "
                    "WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
                )
            ).fetchone()
            if row and row["waiting"]:
                return True
            await asyncio.sleep(0.05)
    return False


async def carol_learnt_from_one_video(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], *, seed: int
) -> tuple[str, tuple[TranscribeRequest, Transcript]]:
    """Alice's video where she named Carol (Carol's whole profile), and a new one with Carol's voice, transcribed
    but not yet saved."""
    first = await video_with_voices(client, pool, "alice", [CAROL])
    await name(client, first, {"SPEAKER_00": "Carol"})
    return first, await transcribed(client, "alice", [same_voice(CAROL, seed)])


async def test_a_profile_emptied_while_a_video_is_labelled_by_it_takes_that_label_back(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    # Given Carol's profile was learnt from one video only
    first, (message, transcript) = await carol_learnt_from_one_video(client, pool, seed=30)
    async with connection(settings) as labelling:
        async with labelling.transaction():
            # And the transcriber has just labelled a new video "Carol" by voice, not yet committed
            await persist(labelling, message, transcript)
            # When Alice deletes the first video meanwhile
            deleting = asyncio.ensure_future(delete_video(settings, first))
            # Then the delete waits for the labelling to commit
            assert await blocked(settings, deleting)
        await deleting

    # And the profile went, and with it the name it gave the new video
    assert await voices(client) == []
    assert (await speakers(client, str(message.media_id)))["SPEAKER_00"] == {"label": "SPEAKER_00", "name": None}


async def test_a_video_labelled_while_a_profile_is_emptied_is_not_given_its_name(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    # Given Carol's profile was learnt from one video only, and that video is being deleted (not yet committed)
    first, (message, transcript) = await carol_learnt_from_one_video(client, pool, seed=31)
    async with connection(settings) as deleting:
        async with deleting.transaction():
            await delete_media_rows(deleting, uuid.UUID(first), owner_id=await owner_of(deleting, first))

            # When the transcriber labels a new video with Carol's voice meanwhile
            async def label() -> None:
                async with connection(settings) as labelling, labelling.transaction():
                    await persist(labelling, message, transcript)

            labelled = asyncio.ensure_future(label())
            # Then it waits for the delete to commit
            assert await blocked(settings, labelled)
        # And then succeeds (no error over a profile that is gone), without Carol's name
        await labelled
    assert await voices(client) == []
    assert (await speakers(client, str(message.media_id)))["SPEAKER_00"] == {"label": "SPEAKER_00", "name": None}
