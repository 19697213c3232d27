"""Annotations: notes and images pinned to a transcript's time, on the real gateway, Postgres and S3 (moto)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings
from vidpipe.storage import open_storage
from vidpipe_gateway import annotations

from .conftest import auth, finish_with_transcript, put, uploaded_and_started


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG (red pixels), made by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def media_with_transcript(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], user: str) -> str:
    started = await uploaded_and_started(client, user)
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    return f"/api/media/{started['media_id']}"


async def add_image(client: AsyncTestClient[Any], media: str, data: bytes, **fields: Any) -> dict[str, Any]:
    body = {"time_s": 1.5, "content_type": "image/png", "size": len(data), "caption": "The whiteboard"} | fields
    reserved = await client.post(f"{media}/annotations/images", json=body, headers=auth("alice"))
    assert reserved.status_code == 201, reserved.text
    upload: dict[str, Any] = reserved.json()
    await put(upload["url"], data, upload["headers"]["Content-Type"])
    return upload


async def test_owner_adds_edits_and_deletes_notes_readers_see_them(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await media_with_transcript(client, pool, "alice")
    notes = f"{media}/annotations"

    # Given alice pins two notes, one between the segments (after segment 0) and one by time alone
    first = await client.post(notes, json={"time_s": 2.5, "text": "Ask about the budget\nand the timeline"},
                              headers=auth("alice"))  # fmt: skip
    assert first.status_code == 201, first.text
    between = await client.post(notes, json={"time_s": 1.6, "after_segment": 0, "text": "Intro ends here"},
                                headers=auth("alice"))  # fmt: skip
    assert between.status_code == 201
    assert first.json()["text"] == "Ask about the budget\nand the timeline"  # line breaks are kept

    # Then they come back in transcript order
    listed = (await client.get(notes, headers=auth("alice"))).json()
    assert [(n["text"], n["time_s"], n["after_segment"]) for n in listed] == [
        ("Intro ends here", 1.6, 0),
        ("Ask about the budget\nand the timeline", 2.5, None),
    ]

    # And the media's visibility governs who reads them: nobody else while private
    assert (await client.get(notes, headers=auth("bob"))).status_code == 404
    assert (await client.get(notes)).status_code == 404
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    assert len((await client.get(notes)).json()) == 2
    assert len((await client.get(notes, headers=auth("bob"))).json()) == 2

    # A reader may not add, edit or delete (403); a stranger to a private media gets 404
    note_url = f"{notes}/{first.json()['id']}"
    assert (await client.post(notes, json={"time_s": 1, "text": "x"}, headers=auth("bob"))).status_code == 403
    assert (await client.patch(note_url, json={"text": "hijacked"}, headers=auth("bob"))).status_code == 403
    assert (await client.delete(note_url, headers=auth("bob"))).status_code == 403
    assert (await client.post(notes, json={"time_s": 1, "text": "x"})).status_code == 401
    await client.patch(media, json={"visibility": "private"}, headers=auth("alice"))
    assert (await client.patch(note_url, json={"text": "hijacked"}, headers=auth("bob"))).status_code == 404
    assert (await client.delete(note_url, headers=auth("bob"))).status_code == 404

    # When alice edits the text and moves the note, it moves in the list (and loses its between-segments place)
    moved = await client.patch(f"{notes}/{between.json()['id']}", json={"text": "Intro really ends", "time_s": 3.0},
                               headers=auth("alice"))  # fmt: skip
    assert moved.status_code == 200
    assert (moved.json()["text"], moved.json()["time_s"], moved.json()["after_segment"]) == (
        "Intro really ends",
        3.0,
        None,
    )
    assert [n["text"] for n in (await client.get(notes, headers=auth("alice"))).json()][-1] == "Intro really ends"

    # And deleting removes it; a second delete is a 404
    assert (await client.delete(note_url, headers=auth("alice"))).status_code == 204
    assert (await client.delete(note_url, headers=auth("alice"))).status_code == 404
    assert [n["text"] for n in (await client.get(notes, headers=auth("alice"))).json()] == ["Intro really ends"]


async def test_bad_notes_are_refused_with_a_reason_and_nothing_changes(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await media_with_transcript(client, pool, "alice")
    notes = f"{media}/annotations"
    kept = (await client.post(notes, json={"time_s": 1, "text": "Keep me"}, headers=auth("alice"))).json()

    cases = [
        ({"time_s": 1, "text": "   "}, 400, "empty_note"),
        ({"time_s": -1, "text": "before the start"}, 400, "invalid_request"),
        ({"time_s": 1, "text": "a\u202eb"}, 422, "invalid_characters"),
        ({"time_s": 1, "text": "x" * 5001}, 400, "invalid_request"),
        ({"time_s": 1, "after_segment": 7, "text": "no such segment"}, 400, "unknown_segment"),
        ({"time_s": 1, "text": "x", "html": "<b>"}, 400, "invalid_request"),
    ]
    for body, status, code in cases:
        response = await client.post(notes, json=body, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
    edit = await client.patch(f"{notes}/{kept['id']}", json={"text": ""}, headers=auth("alice"))
    assert (edit.status_code, edit.json()["code"]) == (400, "empty_note")
    # the one good note is still there, unchanged
    assert [n["text"] for n in (await client.get(notes, headers=auth("alice"))).json()] == ["Keep me"]


async def test_images_upload_through_presigned_urls_and_count_only_once_confirmed(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    media = await media_with_transcript(client, pool, "alice")
    notes = f"{media}/annotations"
    image = png()

    # Given a reserved image whose bytes were never PUT, confirming says so and the image stays hidden
    body = {"time_s": 1, "content_type": "image/png", "size": len(image)}
    reserved = (await client.post(f"{notes}/images", json=body, headers=auth("alice"))).json()
    assert reserved["method"] == "PUT" and reserved["annotation"]["image_url"] is None
    confirm = f"{notes}/{reserved['annotation']['id']}/confirm"
    missing = await client.post(confirm, headers=auth("alice"))
    assert (missing.status_code, missing.json()["code"]) == (409, "upload_missing")
    assert (await client.get(notes, headers=auth("alice"))).json() == []

    # When the bytes arrive, the same annotation can be confirmed: nothing was lost by the early confirm
    await put(reserved["url"], image, "image/png")
    ready = await client.post(confirm, headers=auth("alice"))
    assert ready.status_code == 200, ready.text
    assert ready.json()["image_url"] and ready.json()["size_bytes"] == len(image)
    assert (await client.post(confirm, headers=auth("alice"))).status_code == 200  # idempotent

    # Then readers get a presigned GET of a server-owned copy holding exactly the uploaded bytes
    listed = (await client.get(notes, headers=auth("alice"))).json()
    assert [n["kind"] for n in listed] == ["image"]
    async with httpx.AsyncClient() as http:
        served = await http.get(listed[0]["image_url"])
    assert served.content == image
    assert f"/media/{media.rsplit('/', 1)[1]}/annotations/" in listed[0]["image_url"]
    async with open_storage(settings.aws) as storage:
        assert await storage.head(reserved["url"].split(f"/{settings.aws.bucket}/", 1)[1].split("?")[0]) is None

        # And deleting the annotation deletes its object
        key = f"media/{media.rsplit('/', 1)[1]}/annotations/{reserved['annotation']['id']}.png"
        assert await storage.head(key) is not None
        assert (
            await client.delete(f"{notes}/{reserved['annotation']['id']}", headers=auth("alice"))
        ).status_code == 204
        assert await storage.head(key) is None


async def test_wrong_images_are_refused(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    media = await media_with_transcript(client, pool, "alice")
    images = f"{media}/annotations/images"

    # Refused at reservation: a type that is not an image, an empty file, a file over 10 MiB
    for body, status, code in [
        ({"time_s": 1, "content_type": "image/svg+xml", "size": 100}, 415, "unsupported_image_type"),
        ({"time_s": 1, "content_type": "text/html", "size": 100}, 415, "unsupported_image_type"),
        ({"time_s": 1, "content_type": "image/png", "size": 0}, 400, "empty_upload"),
        ({"time_s": 1, "content_type": "image/png", "size": 10 * 1024 * 1024 + 1}, 413, "image_too_large"),
        ({"time_s": 99, "content_type": "image/png", "size": 10}, 400, "time_out_of_range"),
    ]:
        response = await client.post(images, json=body, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)

    # Refused at confirmation: bytes that are not the declared image (moto does not enforce the signed type)
    upload = await add_image(client, media, b"<html><script>alert(1)</script></html>"[:24], content_type="image/png")
    refused = await client.post(f"{media}/annotations/{upload['annotation']['id']}/confirm", headers=auth("alice"))
    assert (refused.status_code, refused.json()["code"]) == (415, "not_an_image")
    # and a different size from the one declared
    upload = await add_image(client, media, png(), size=len(png()) + 5)
    mismatch = await client.post(f"{media}/annotations/{upload['annotation']['id']}/confirm", headers=auth("alice"))
    assert (mismatch.status_code, mismatch.json()["code"]) == (409, "upload_mismatch")
    assert (await client.get(f"{media}/annotations", headers=auth("alice"))).json() == []

    # Only the owner reserves or confirms
    bob = await client.post(images, json={"time_s": 1, "content_type": "image/png", "size": 10}, headers=auth("bob"))
    assert bob.status_code == 404
    confirm_as_bob = await client.post(f"{media}/annotations/{upload['annotation']['id']}/confirm", headers=auth("bob"))
    assert confirm_as_bob.status_code == 404


async def test_deleting_the_media_deletes_its_images(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings
) -> None:
    media = await media_with_transcript(client, pool, "alice")
    upload = await add_image(client, media, png())
    pending = await add_image(client, media, png())  # reserved and uploaded, never confirmed
    ready = await client.post(f"{media}/annotations/{upload['annotation']['id']}/confirm", headers=auth("alice"))
    assert ready.status_code == 200
    media_id = media.rsplit("/", 1)[1]
    upload_key = pending["url"].split(f"/{settings.aws.bucket}/", 1)[1].split("?")[0]
    async with open_storage(settings.aws) as storage:
        assert await storage.head(upload_key) is not None
        assert (await client.delete(media, headers=auth("alice"))).status_code == 204
        # delete_prefix counts what it finds: zero means the media's delete left no object behind
        assert await storage.delete_prefix(f"media/{media_id}/") == 0
        assert await storage.delete_prefix(upload_key.split("/annotations/")[0] + "/") == 0
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM annotations")).fetchone()
    assert row is not None and row["n"] == 0


async def test_reservations_never_confirmed_are_discarded_once_their_url_is_long_expired(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(annotations, "MAX_ANNOTATIONS_PER_MEDIA", 2)  # the module global _check_room reads
    media = await media_with_transcript(client, pool, "alice")
    # Given a client that uploaded an image and died before confirming, and another reservation still in time
    abandoned = await add_image(client, media, png())
    waiting = await add_image(client, media, png())
    body = {"time_s": 2, "content_type": "image/png", "size": len(png())}
    full = await client.post(f"{media}/annotations/images", json=body, headers=auth("alice"))
    assert (full.status_code, full.json()["code"]) == (409, "too_many_annotations")  # both hold the cap

    # When the abandoned one's upload URL expired more than the grace period ago
    too_old = settings.gateway.presign_expiry_s + annotations.STALE_RESERVATION_GRACE_S + 60
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "UPDATE annotations SET created_at = now() - make_interval(secs => %s) WHERE id = %s",
            (too_old, abandoned["annotation"]["id"]),
        )

    # Then the next note (or image) discards it with its upload, and fits
    note = {"time_s": 2, "text": "Whiteboard photo follows"}
    again = await client.post(f"{media}/annotations", json=note, headers=auth("alice"))
    assert again.status_code == 201, again.text
    upload_key = abandoned["url"].split(f"/{settings.aws.bucket}/", 1)[1].split("?")[0]
    async with open_storage(settings.aws) as storage:
        assert await storage.head(upload_key) is None
    confirm = await client.post(f"{media}/annotations/{abandoned['annotation']['id']}/confirm", headers=auth("alice"))
    assert confirm.status_code == 404
    # And the reservation still within its time is untouched and can be confirmed
    kept = await client.post(f"{media}/annotations/{waiting['annotation']['id']}/confirm", headers=auth("alice"))
    assert kept.status_code == 200, kept.text
