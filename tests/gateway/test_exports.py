"""TXT, DOCX and JSON exports: speaker names, notes and images where they were pinned, safe file names."""

from __future__ import annotations

import io
from typing import Any

import docx
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from .conftest import auth, finish_with_transcript, reserve, uploaded_and_started
from .test_annotations import add_image, png


async def annotated_media(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> str:
    """Alice's two-segment transcript with named speakers, a note between the segments and an image after."""
    started = await uploaded_and_started(client, "alice")
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    media = f"/api/media/{started['media_id']}"
    names = {"names": {"SPEAKER_00": "Grace Hopper", "SPEAKER_01": "Alan Turing"}}
    assert (await client.patch(f"{media}/speakers", json=names, headers=auth("alice"))).status_code == 200
    note = {"time_s": 1.7, "text": "Check the date\nwith the archive"}
    assert (await client.post(f"{media}/annotations", json=note, headers=auth("alice"))).status_code == 201
    upload = await add_image(client, media, png(), time_s=3.0, caption="Slide 4")
    confirmed = await client.post(f"{media}/annotations/{upload['annotation']['id']}/confirm", headers=auth("alice"))
    assert confirmed.status_code == 200
    return media


async def test_txt_has_names_and_notes_in_order(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    media = await annotated_media(client, pool)
    response = await client.get(f"{media}/transcript.txt", headers=auth("alice"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-disposition"] == 'attachment; filename="My_Interview.txt"'
    lines = response.text.splitlines()
    start = lines.index("Transcript") + 2
    assert lines[start:] == [
        "[0:00:00] Grace Hopper: Hello and welcome.",
        "[0:00:01] NOTE: Check the date",
        "    with the archive",
        "[0:00:02] Alan Turing: Thanks for having me.",
        "[0:00:03] IMAGE: Slide 4 (image/png)",
    ]


async def test_json_is_structured_and_names_every_speaker(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await annotated_media(client, pool)
    response = await client.get(f"{media}/transcript.json", headers=auth("alice"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="My_Interview.json"'
    body = response.json()
    assert body["speakers"] == [
        {"label": "SPEAKER_00", "name": "Grace Hopper"},
        {"label": "SPEAKER_01", "name": "Alan Turing"},
    ]
    assert [item["type"] for item in body["items"]] == ["segment", "note", "segment", "image"]
    assert body["items"][0]["speaker_name"] == "Grace Hopper"
    assert body["items"][1]["text"] == "Check the date\nwith the archive"
    assert body["items"][3]["caption"] == "Slide 4" and body["items"][3]["image_url"].startswith("http")


async def test_docx_opens_with_names_notes_and_the_image_embedded(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    media = await annotated_media(client, pool)
    response = await client.get(f"{media}/transcript.docx", headers=auth("alice"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    assert response.headers["content-disposition"] == 'attachment; filename="My_Interview.docx"'
    document = docx.Document(io.BytesIO(response.content))
    text = [p.text for p in document.paragraphs]
    start = text.index("Transcript") + 1
    assert text[start : start + 4] == [
        "[0:00:00] Grace Hopper: Hello and welcome.",
        "[0:00:01] Note: Check the date\nwith the archive",
        "[0:00:02] Alan Turing: Thanks for having me.",
        "[0:00:03] Image: Slide 4",
    ]
    assert len(document.inline_shapes) == 1
    blobs = [part.blob for part in document.part.package.parts if part.partname.startswith("/word/media/")]
    assert blobs == [png()]


async def test_exports_follow_the_read_rule(client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]) -> None:
    media = await annotated_media(client, pool)
    for kind in ("txt", "docx", "json"):
        url = f"{media}/transcript.{kind}"
        assert (await client.get(url, headers=auth("bob"))).status_code == 404
        assert (await client.get(url)).status_code == 404  # anonymous: as if it did not exist
    await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
    for kind in ("txt", "docx", "json"):
        assert (await client.get(f"{media}/transcript.{kind}")).status_code == 200
    # like SRT, a plain link with the token in the query works (the browser cannot set a header on a link)
    token = auth("alice")["Authorization"].split()[1]
    await client.patch(media, json={"visibility": "private"}, headers=auth("alice"))
    assert (await client.get(f"{media}/transcript.txt?access_token={token}")).status_code == 200

    # A media without a transcript has nothing to export yet
    fresh = (await reserve(client, "alice")).json()
    response = await client.get(f"/api/media/{fresh['media_id']}/transcript.docx", headers=auth("alice"))
    assert (response.status_code, response.json()["code"]) == (409, "no_transcript")
