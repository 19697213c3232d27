"""The editor's routes: reassign a segment's speaker, undo edits, friends, thumbnails, and what "My videos" and
the tracker show (title, thumbnail, failure reason in sentences, skipped stages, time left)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings
from vidpipe.storage import open_storage
from vidpipe.taskstate import insert_event
from vidpipe_gateway.failures import SENTENCES, explain
from vidpipe_gateway.status import eta_seconds

from .conftest import auth, finish_with_transcript, uploaded_and_started


async def transcribed(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], owner: str = "alice") -> str:
    started = await uploaded_and_started(client, owner)
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    return f"/api/media/{started['media_id']}"


def segment(media: dict[str, Any], idx: int) -> dict[str, Any]:
    return next(s for s in media["transcript"]["segments"] if s["idx"] == idx)


async def test_a_segment_moves_to_another_speaker_and_the_move_is_in_the_history(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await transcribed(client, pool)

    # When alice moves the first segment to the second speaker
    moved = await client.patch(f"{media}/segments/0/speaker", json={"speaker": "SPEAKER_01"}, headers=auth("alice"))

    # Then the segment answers with its new speaker, a reload shows it, and the history records the move
    assert moved.status_code == 200, moved.text
    assert moved.json()["speaker"] == "SPEAKER_01"
    body = (await client.get(media, headers=auth("alice"))).json()
    assert segment(body, 0)["speaker"] == "SPEAKER_01"
    assert segment(body, 1)["speaker"] == "SPEAKER_01"
    edits = (await client.get(f"{media}/edits", headers=auth("alice"))).json()
    assert [(e["target"], e["target_key"], e["old_value"], e["new_value"]) for e in edits] == [
        ("segment_speaker", "0", "SPEAKER_00", "SPEAKER_01")
    ]

    # Moving it to the speaker it already has changes nothing and records nothing
    same = await client.patch(f"{media}/segments/0/speaker", json={"speaker": "SPEAKER_01"}, headers=auth("alice"))
    assert same.status_code == 200
    assert len((await client.get(f"{media}/edits", headers=auth("alice"))).json()) == 1


async def test_reassigning_refuses_unknown_speakers_segments_and_other_users(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await transcribed(client, pool)
    url = f"{media}/segments/0/speaker"

    unknown = await client.patch(url, json={"speaker": "SPEAKER_07"}, headers=auth("alice"))
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_speaker")
    missing = await client.patch(f"{media}/segments/99/speaker", json={"speaker": "SPEAKER_01"}, headers=auth("alice"))
    assert missing.status_code == 404
    empty = await client.patch(url, json={"speaker": ""}, headers=auth("alice"))
    assert empty.status_code == 400
    bidi = await client.patch(url, json={"speaker": "SPEAKER_\u202e01"}, headers=auth("alice"))
    assert (bidi.status_code, bidi.json()["code"]) == (422, "invalid_characters")
    assert (await client.patch(url, json={"speaker": "SPEAKER_01"})).status_code == 401
    # a stranger cannot see the media at all; a reader of public media may not edit it
    assert (await client.patch(url, json={"speaker": "SPEAKER_01"}, headers=auth("bob"))).status_code == 404
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    forbidden = await client.patch(url, json={"speaker": "SPEAKER_01"}, headers=auth("bob"))
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")

    # nothing of that changed the segment
    body = (await client.get(media, headers=auth("alice"))).json()
    assert segment(body, 0)["speaker"] == "SPEAKER_00"


async def test_undo_restores_each_kind_of_edit_and_is_recorded(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await transcribed(client, pool)
    alice = auth("alice")
    await client.patch(f"{media}/segments/0", json={"text": "Hello, and welcome!"}, headers=alice)
    await client.patch(f"{media}/segments/1/speaker", json={"speaker": "SPEAKER_00"}, headers=alice)
    await client.patch(f"{media}/speakers", json={"names": {"SPEAKER_00": "Ada"}}, headers=alice)
    await client.patch(media, json={"visibility": "public"}, headers=alice)
    edits = (await client.get(f"{media}/edits", headers=alice)).json()
    assert [e["target"] for e in edits] == ["segment_text", "segment_speaker", "speaker_name", "visibility"]

    # When alice undoes every edit, newest first
    for edit in reversed(edits):
        undone = await client.post(f"{media}/edits/{edit['id']}/undo", headers=alice)
        assert undone.status_code == 200, undone.text
        assert undone.json()["undone"] == edit["id"]
        assert undone.json()["edit"]["undo_of"] == edit["id"]
        assert undone.json()["edit"]["new_value"] == edit["old_value"]

    # Then the media is as the machine left it, and the history holds all eight changes
    body = (await client.get(media, headers=alice)).json()
    assert body["visibility"] == "private"
    assert segment(body, 0)["text"] == "Hello and welcome." and segment(body, 0)["edited"] is False
    assert segment(body, 1)["speaker"] == "SPEAKER_01"
    assert {s["label"]: s["name"] for s in body["transcript"]["speakers"]} == {"SPEAKER_00": None, "SPEAKER_01": None}
    history = (await client.get(f"{media}/edits", headers=alice)).json()
    assert len(history) == 8
    assert [e["undo_of"] for e in history[4:]] == [e["id"] for e in reversed(edits)]

    # An edit is undone once; undoing the undo puts the correction back
    again = await client.post(f"{media}/edits/{edits[0]['id']}/undo", headers=alice)
    assert (again.status_code, again.json()["code"]) == (409, "already_undone")
    undo_of_text = next(e for e in history if e["undo_of"] == edits[0]["id"])
    redo = await client.post(f"{media}/edits/{undo_of_text['id']}/undo", headers=alice)
    assert redo.status_code == 200
    assert segment((await client.get(media, headers=alice)).json(), 0)["text"] == "Hello, and welcome!"


async def test_undo_is_for_the_owner_and_for_edits_of_this_media(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await transcribed(client, pool)
    other = await transcribed(client, pool)
    await client.patch(f"{media}/segments/0", json={"text": "Changed."}, headers=auth("alice"))
    edit_id = (await client.get(f"{media}/edits", headers=auth("alice"))).json()[0]["id"]

    assert (await client.post(f"{media}/edits/{edit_id}/undo")).status_code == 401
    assert (await client.post(f"{media}/edits/{edit_id}/undo", headers=auth("bob"))).status_code == 404
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    assert (await client.post(f"{media}/edits/{edit_id}/undo", headers=auth("bob"))).status_code == 403
    # an edit id of another media (even the same owner's) is not found through this one
    assert (await client.post(f"{other}/edits/{edit_id}/undo", headers=auth("alice"))).status_code == 404
    assert (await client.post(f"{media}/edits/987654/undo", headers=auth("alice"))).status_code == 404
    body = (await client.get(media, headers=auth("alice"))).json()
    assert segment(body, 0)["text"] == "Changed."


async def test_friends_are_listed_added_and_removed_per_user(client: AsyncTestClient[Any]) -> None:
    alice, bob = auth("alice"), auth("bob")
    assert (await client.post("/api/friends", json={"subject": "carol"}, headers=alice)).status_code == 201
    assert (await client.post("/api/friends", json={"subject": "dave"}, headers=alice)).status_code == 201
    assert [f["subject"] for f in (await client.get("/api/friends", headers=alice)).json()] == ["carol", "dave"]

    # bob cannot remove alice's friends: his own list has no carol
    assert (await client.delete("/api/friends/carol", headers=bob)).status_code == 404
    assert (await client.delete("/api/friends/carol")).status_code == 401
    assert (await client.delete("/api/friends/carol", headers=alice)).status_code == 204
    assert [f["subject"] for f in (await client.get("/api/friends", headers=alice)).json()] == ["dave"]
    assert (await client.delete("/api/friends/carol", headers=alice)).status_code == 404
    yourself = await client.post("/api/friends", json={"subject": "alice"}, headers=alice)
    assert yourself.status_code == 400


async def test_thumbnails_are_served_to_readers_only(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings, tmp_path: Path
) -> None:
    media = await transcribed(client, pool)
    media_id = uuid.UUID(media.rsplit("/", 1)[1])
    url = f"{media}/thumbnail"
    assert (await client.get(url, headers=auth("alice"))).status_code == 404  # none stored yet

    # Given the moderator allowed alice's video and stored a thumbnail for it (only an allowed video's thumbnail
    # is shown to anyone but its owner)
    jpeg = b"\xff\xd8\xff\xe0 a tiny jpeg \xff\xd9"
    key = f"media/{media_id}/thumbnails/{uuid.uuid4()}.jpg"
    (tmp_path / "t.jpg").write_bytes(jpeg)
    async with open_storage(settings.aws) as storage:
        await storage.upload_file(tmp_path / "t.jpg", key, "image/jpeg")
    async with pool.connection() as conn:
        await conn.execute("UPDATE media SET thumbnail_key = %s WHERE id = %s", (key, media_id))
        await conn.execute(
            "INSERT INTO moderation_results (task_id, media_id, verdict, model) "
            "SELECT id, media_id, 'allowed', 'test' FROM tasks WHERE media_id = %s",
            (media_id,),
        )

    # The owner is redirected to a short-lived presigned GET of exactly that object
    owner = await client.get(url, headers=auth("alice"), follow_redirects=False)
    assert owner.status_code == 307
    async with httpx.AsyncClient() as http:
        fetched = await http.get(owner.headers["location"])
    assert fetched.content == jpeg
    listed = (await client.get("/api/media", headers=auth("alice"))).json()["items"]
    assert listed[0]["thumbnail_url"] and key in listed[0]["thumbnail_url"]

    # Strangers and anonymous callers get 404 while the media is private; a friend gets it once shared
    assert (await client.get(url, headers=auth("bob"), follow_redirects=False)).status_code == 404
    assert (await client.get(url, follow_redirects=False)).status_code == 404
    await client.post("/api/friends", json={"subject": "bob"}, headers=auth("alice"))
    await client.patch(media, json={"visibility": "friends"}, headers=auth("alice"))
    assert (await client.get(url, headers=auth("bob"), follow_redirects=False)).status_code == 307
    assert (await client.get(url, headers=auth("carol"), follow_redirects=False)).status_code == 404
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    assert (await client.get(url, follow_redirects=False)).status_code == 307


async def test_my_videos_show_title_reason_and_filter_by_status(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    done = await uploaded_and_started(client, "alice")
    transcript_id = await finish_with_transcript(pool, done["task_id"], done["media_id"])
    failed = await uploaded_and_started(client, "alice")
    waiting = await uploaded_and_started(client, "alice")
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO summaries (transcript_id, title, summary, model) VALUES (%s, 'A warm welcome', 's', 'm')",
            (transcript_id,),
        )
        await conn.execute(
            "UPDATE tasks SET status = 'FAILED', error_code = 'no_audio_stream', error_message = 'no audio' "
            "WHERE id = %s",
            (uuid.UUID(failed["task_id"]),),
        )

    items = {i["id"]: i for i in (await client.get("/api/media", headers=auth("alice"))).json()["items"]}
    assert items[done["media_id"]]["title"] == "A warm welcome"
    assert items[done["media_id"]]["reason"] is None
    assert items[failed["media_id"]]["error_code"] == "no_audio_stream"
    assert items[failed["media_id"]]["reason"] == SENTENCES["no_audio_stream"]
    assert items[waiting["media_id"]]["title"] is None

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/media?{query}", headers=auth("alice"))
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids("status=FAILED&status=REJECTED") == [failed["media_id"]]
    assert await ids("status=COMPLETED") == [done["media_id"]]
    assert await ids("status=UPLOAD_COMPLETE&status=PROCESSING") == [waiting["media_id"]]
    assert await ids("status=NEW") == []
    bad = await client.get("/api/media?status=DONE", headers=auth("alice"))
    assert bad.status_code == 400


async def test_after_a_failure_later_stages_are_skipped_and_the_reason_is_a_sentence(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    task_id = uuid.UUID(started["task_id"])
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO stage_runs (task_id, stage, state, claim_token, finished_at) "
            "VALUES (%s, 'moderate', 'failed', gen_random_uuid(), now())",
            (task_id,),
        )
        await conn.execute(
            "UPDATE tasks SET status = 'FAILED', error_code = 'corrupt_media', "
            "error_message = 'No video frame could be decoded' WHERE id = %s",
            (task_id,),
        )
    status = (await client.get(f"/api/video/status/{task_id}", headers=auth("alice"))).json()
    assert [(s["stage"], s["state"]) for s in status["stages"]] == [
        ("moderate", "failed"),
        ("transcribe", "skipped"),
        ("summarize", "skipped"),
    ]
    assert status["error"]["code"] == "corrupt_media"
    assert status["reason"] == SENTENCES["corrupt_media"]


async def test_a_running_stage_reports_the_time_left(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    started = await uploaded_and_started(client, "alice")
    task_id = uuid.UUID(started["task_id"])
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO stage_runs (task_id, stage, state, claim_token, started_at) "
            "VALUES (%s, 'moderate', 'running', gen_random_uuid(), now() - interval '20 seconds')",
            (task_id,),
        )
        await conn.execute(
            "UPDATE tasks SET status = 'PROCESSING', current_stage = 'moderate' WHERE id = %s", (task_id,)
        )
        await insert_event(conn, task_id, "moderate", "started")
        await insert_event(conn, task_id, "moderate", "progress", progress=0.25)
    status = (await client.get(f"/api/video/status/{task_id}", headers=auth("alice"))).json()
    moderate, transcribe = status["stages"][0], status["stages"][1]
    # 20 s for a quarter: about 60 s more at that pace
    assert 55 <= moderate["eta_s"] <= 70
    assert transcribe["state"] == "waiting" and transcribe["eta_s"] is None
    assert status["reason"] is None


def test_eta_is_given_only_where_the_pace_means_something() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ten_ago = now - timedelta(seconds=10)
    assert eta_seconds(ten_ago, 0.5, now) == 10.0
    assert eta_seconds(ten_ago, 0.2, now) == 40.0
    assert eta_seconds(ten_ago, 0.04, now) is None  # start-up costs dominate
    assert eta_seconds(ten_ago, 0.995, now) is None  # finishing
    assert eta_seconds(None, 0.5, now) is None
    assert eta_seconds(now, 0.5, now) is None


def test_failure_codes_read_as_sentences() -> None:
    assert explain(None, None) is None
    assert explain("no_audio_stream", "the video has no audio to transcribe") == SENTENCES["no_audio_stream"]
    assert explain("rejected_by_moderation", "Nudity was found at 0:03.") == (
        f"{SENTENCES['rejected_by_moderation']} Nudity was found at 0:03."
    )
    # an unknown code falls back to the stage's message, as a sentence, never the bare code
    assert explain("something_new", "the disk was full") == "The disk was full."
    assert explain("something_new", None) == "Processing failed for a reason this server did not describe."
    assert all(s.endswith(".") and s[0].isupper() for s in SENTENCES.values())


def test_every_failure_code_the_stages_record_has_a_sentence() -> None:
    # The codes a task can end with: permanent errors and rejections raised by the stages, and the platform's own.
    repo = Path(__file__).resolve().parents[2]
    patterns = [
        r'PermanentError\(\s*"([a-z_]+)"',
        r'\.reject\(\s*"([a-z_]+)"',
        r'\bcode="([a-z_]+)"',
        r'"error_code": "([a-z_]+)"',
    ]
    sources = [*repo.glob("services/*/vidpipe_*/**/*.py"), *repo.glob("shared/vidpipe/**/*.py")]
    codes = {code for path in sources for pattern in patterns for code in re.findall(pattern, path.read_text())}
    assert {"no_audio_stream", "corrupt_media", "retries_exhausted", "rejected_by_moderation"} <= codes
    assert sorted(codes - SENTENCES.keys()) == []
