"""The gateway's upload, start-processing and status routes on real Postgres and a real S3/SQS API."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from vidpipe.messages import ModerateRequest, decode_message
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import AuthSettings, Settings
from vidpipe.tokens import mint_local_token

from .conftest import auth, put, reserve


async def test_health_and_schema_are_public(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/schema/openapi.json")).status_code == 200


PAGES = ["/", "/videos", "/videos/0b7c3d4e-1f2a-4b5c-8d9e-0f1a2b3c4d5e", "/search", "/friends", "/voices", "/webhooks"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_shell_is_public_html_with_the_one_shared_head_and_header(
    client: AsyncTestClient[Any], path: str
) -> None:
    from vidpipe_gateway.web import FRAGMENTS, PAGES_DIR

    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # Each fragment's markup once and no marker left: a page without the marker would lose its navigation
    # (header) or its stylesheet and charset (head)
    for marker, fragment in FRAGMENTS.items():
        assert response.text.count((PAGES_DIR / fragment).read_text(encoding="utf-8")) == 1
        assert marker.strip() not in response.text
    assert response.text.count('<nav class="site-nav"') == 1
    assert response.text.count('<link rel="stylesheet" href="/static/app.css">') == 1
    # The charset comes first in <head>, where browsers look for it
    text = response.text
    assert text.index("<head>") < text.index('<meta charset="utf-8">') < text.index("<title>")


@pytest.mark.parametrize("name", ["index.html", "video.html", "_header.html", "_head.html"])
async def test_raw_page_shells_are_not_served_as_static_files(client: AsyncTestClient[Any], name: str) -> None:
    # Only the composed pages are served: a raw shell (its header marker unfilled) or the header alone is not
    assert (await client.get(f"/static/{name}")).status_code == 404
    assert (await client.get("/static/app.js")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic abc"}],
    ids=["missing", "garbage", "wrong-scheme"],
)
async def test_private_routes_refuse_requests_without_a_valid_token(
    client: AsyncTestClient[Any], headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/video/upload-url", json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_token_signed_with_another_secret_is_refused(client: AsyncTestClient[Any]) -> None:
    forged = mint_local_token(AuthSettings(jwt_secret="another-secret-" + "y" * 32), "mallory")
    response = await client.get(
        "/api/video/status/00000000-0000-0000-0000-000000000000", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_upload_url_gives_a_presigned_put_under_the_users_prefix(client: AsyncTestClient[Any]) -> None:
    response = await reserve(client, "alice")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["method"] == "PUT"
    assert body["object_key"].startswith("uploads/") and body["object_key"].endswith("/My_Interview.mp4")
    assert ".." not in body["object_key"]
    assert body["headers"] == {"Content-Type": "video/mp4"}
    assert "X-Amz-Signature=" in body["url"] and "X-Amz-Expires=900" in body["url"]
    # the signature covers type and exact size, so real S3 refuses any other upload to this URL
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in body["url"]


async def test_large_uploads_get_multipart_part_urls(client: AsyncTestClient[Any], settings: Settings) -> None:
    size = settings.gateway.multipart_threshold_bytes + 1
    body = (await reserve(client, "alice", size=size)).json()
    assert body["method"] == "MULTIPART"
    assert body["upload_id"]
    assert len(body["parts"]) == -(-size // settings.gateway.multipart_part_bytes)
    assert [p["part_number"] for p in body["parts"]] == list(range(1, len(body["parts"]) + 1))


@pytest.mark.parametrize(
    ("size", "content_type", "status", "code"),
    [
        (1000, "text/plain", 415, "unsupported_content_type"),
        (1000, "image/png", 415, "unsupported_content_type"),
        (0, "video/mp4", 400, "empty_upload"),
        (10 * 1024**4, "video/mp4", 413, "upload_too_large"),
        (-1, "video/mp4", 400, "invalid_request"),
    ],
)
async def test_upload_url_rejects_bad_requests(
    client: AsyncTestClient[Any], size: int, content_type: str, status: int, code: str
) -> None:
    response = await reserve(client, "alice", size=size, content_type=content_type)
    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_malformed_body_is_a_json_400(client: AsyncTestClient[Any]) -> None:
    response = await client.post("/api/video/upload-url", content=b"{not json", headers=auth("alice"))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


async def test_start_processing_queues_the_first_stage_and_status_follows(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    # Given an uploaded video
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")

    # When processing starts
    response = await client.post(
        "/api/video/start-processing",
        json={"object_key": target["object_key"], "language": "en", "max_speakers": 3},
        headers=auth("alice"),
    )

    # Then a task exists, the moderation queue holds its message, and the status says so
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "UPLOAD_COMPLETE"
    async with open_sqs(settings.aws) as sqs:
        queues = await resolve_queue_urls(sqs, settings)
        received = await sqs.receive_message(QueueUrl=queues.main["moderate"], WaitTimeSeconds=1)
    message = decode_message(received["Messages"][0]["Body"])
    assert isinstance(message, ModerateRequest)
    assert str(message.task_id) == started["task_id"]
    # the pipeline reads the server's pinned copy, never the key the client can still write to
    assert message.video_key.startswith(f"media/{started['media_id']}/source/{started['task_id']}/")
    assert (message.options.language, message.options.max_speakers) == ("en", 3)

    status = (await client.get(f"/api/video/status/{started['task_id']}", headers=auth("alice"))).json()
    assert status["status"] == "UPLOAD_COMPLETE"
    assert status["current_stage"] == "moderate"
    assert [s["stage"] for s in status["stages"]] == ["moderate", "transcribe", "summarize"]
    assert all(s["state"] == "waiting" for s in status["stages"])
    assert status["progress_percent"] == 0.0
    assert status["error"] is None

    # And a second start while it runs is refused
    again = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_processing")


async def test_start_processing_for_a_key_never_uploaded(client: AsyncTestClient[Any]) -> None:
    target = (await reserve(client, "alice")).json()
    response = await client.post(
        "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
    )
    assert (response.status_code, response.json()["code"]) == (409, "upload_missing")


async def test_start_processing_of_an_empty_or_non_video_object(client: AsyncTestClient[Any]) -> None:
    empty = (await reserve(client, "alice")).json()
    await put(empty["url"], b"", "video/mp4")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": empty["object_key"]}, headers=auth("alice")
    )
    assert (response.status_code, response.json()["code"]) == (400, "empty_upload")

    # The presigned URL was signed for video/mp4; moto does not enforce that, so the HEAD check must.
    sneaky = (await reserve(client, "alice")).json()
    await put(sneaky["url"], b"#!/bin/sh", "text/x-shellscript")
    response = await client.post(
        "/api/video/start-processing", json={"object_key": sneaky["object_key"]}, headers=auth("alice")
    )
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_content_type")


async def test_another_users_upload_task_and_media_read_as_missing(client: AsyncTestClient[Any]) -> None:
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    started = (
        await client.post(
            "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
        )
    ).json()

    as_bob = auth("bob")
    steal = await client.post("/api/video/start-processing", json={"object_key": target["object_key"]}, headers=as_bob)
    assert (steal.status_code, steal.json()["code"]) == (404, "not_found")
    assert (await client.get(f"/api/video/status/{started['task_id']}", headers=as_bob)).status_code == 404
    assert (await client.get(f"/api/media/{started['media_id']}", headers=as_bob)).status_code == 404
    # while the owner sees both
    assert (await client.get(f"/api/video/status/{started['task_id']}", headers=auth("alice"))).status_code == 200
    assert (await client.get(f"/api/media/{started['media_id']}", headers=auth("alice"))).status_code == 200


async def test_unknown_ids_are_404(client: AsyncTestClient[Any]) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (f"/api/video/status/{missing}", f"/api/media/{missing}"):
        response = await client.get(path, headers=auth("alice"))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert (await client.get("/api/video/status/not-a-uuid", headers=auth("alice"))).status_code in (400, 404)
