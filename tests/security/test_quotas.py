"""Finding 3: per-user rate limits and quotas, each a 429 with Retry-After; reprocessing needs a flag."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings

from ..gateway.conftest import auth, put, reserve
from ..gateway.test_annotations import media_with_transcript
from .helpers import client_with

GiB = 1024**3


async def test_hammering_upload_url_meets_a_429_with_the_default_limits(client: AsyncTestClient[Any]) -> None:
    statuses = []
    for _ in range(120):
        response = await reserve(client, "hammer", size=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, f"no 429 after {len(statuses)} calls"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] in {"rate_limited", "quota_exceeded"}
    # another user is not affected
    assert (await reserve(client, "bystander", size=10)).status_code == 201


async def test_write_rate_limit_is_per_user_and_says_when_to_retry(settings: Settings) -> None:
    async with client_with(settings, write_requests_per_minute=5) as client:
        codes = [(await reserve(client, "alice", size=10)).status_code for _ in range(6)]
        assert codes == [201] * 5 + [429]
        limited = await reserve(client, "alice", size=10)
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # reads are not limited, and neither is anyone else
        assert (await client.get("/api/media", headers=auth("alice"))).status_code == 200
        assert (await reserve(client, "bob", size=10)).status_code == 201


async def test_transcript_downloads_count_toward_the_rate_limit_even_signed_out(
    settings: Settings, pool: AsyncConnectionPool[Any]
) -> None:
    # Given a public video with a transcript (a DOCX is built, with its images, on every request)
    async with client_with(settings, write_requests_per_minute=6) as client:
        media = await media_with_transcript(client, pool, "alice")  # 2 of alice's 6 (upload, start)
        await client.patch(media, json={"visibility": "public"}, headers=auth("alice"))
        # When a visitor downloads it over and over: the 7th download in the minute is refused
        codes = [(await client.get(f"{media}/transcript.docx")).status_code for _ in range(7)]
        assert codes == [200] * 6 + [429]
        # Other reads stay unlimited, and the owner still has her own budget (3 used)
        assert (await client.get(media)).status_code == 200
        assert (await client.get(f"{media}/transcript.srt", headers=auth("alice"))).status_code == 200


async def test_daily_bytes_and_uploads_are_capped(settings: Settings) -> None:
    async with client_with(settings, daily_uploads=3) as client:
        # 20 GiB per day by default: four reservations of 5 GiB fit, the fifth does not
        codes = [(await reserve(client, "alice", size=5 * GiB)).status_code for _ in range(5)]
        assert codes[:3] == [201] * 3 and codes[3] == 429
    async with client_with(settings) as client:
        codes = [(await reserve(client, "bob", size=5 * GiB)).status_code for _ in range(5)]
        assert codes == [201] * 4 + [429]
        refused = await reserve(client, "bob", size=5 * GiB)
        assert refused.json()["code"] == "quota_exceeded"
        assert int(refused.headers["retry-after"]) > 3600  # the window is 24 h from the first reservation


async def test_note_images_count_toward_the_daily_bytes_but_not_the_number_of_uploads(
    settings: Settings, pool: AsyncConnectionPool[Any]
) -> None:
    # Given alice's one upload of the day (5 bytes) with a transcript, under a 3005-byte, one-upload day
    async with client_with(settings, daily_uploads=1, daily_upload_bytes=3005) as client:
        media = await media_with_transcript(client, pool, "alice")

        async def reserve_image(size: int) -> Any:
            body = {"time_s": 1.0, "content_type": "image/png", "size": size}
            return await client.post(f"{media}/annotations/images", json=body, headers=auth("alice"))

        # Then images may still be added although her one upload is used (they are not uploads)...
        assert [(await reserve_image(1000)).status_code for _ in range(3)] == [201] * 3
        # ...but their bytes count: the day's 3005 bytes are spent, for images and videos alike
        refused = await reserve_image(1)
        assert (refused.status_code, refused.json()["code"]) == (429, "quota_exceeded")
        assert int(refused.headers["retry-after"]) > 0


async def test_concurrent_tasks_per_user_are_capped(settings: Settings) -> None:
    async with client_with(settings, max_live_tasks_per_user=2) as client:
        codes = []
        for _ in range(3):
            target = (await reserve(client, "alice", size=5)).json()
            await put(target["url"], b"video", "video/mp4")
            response = await client.post(
                "/api/video/start-processing", json={"object_key": target["object_key"]}, headers=auth("alice")
            )
            codes.append(response.status_code)
        assert codes == [202, 202, 429]
        assert response.json()["code"] == "too_many_tasks" and "retry-after" in response.headers


async def test_a_completed_media_is_reprocessed_only_on_request(
    client: AsyncTestClient[Any], pool: AsyncConnectionPool[Any]
) -> None:
    target = (await reserve(client, "alice", size=5)).json()
    await put(target["url"], b"video", "video/mp4")
    body = {"object_key": target["object_key"]}
    first = await client.post("/api/video/start-processing", json=body, headers=auth("alice"))
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE tasks SET status = 'COMPLETED' WHERE id = %s", (first.json()["task_id"],))

    again = await client.post("/api/video/start-processing", json=body, headers=auth("alice"))
    assert (again.status_code, again.json()["code"]) == (409, "already_processed")
    forced = await client.post("/api/video/start-processing", json={**body, "reprocess": True}, headers=auth("alice"))
    assert forced.status_code == 202, forced.text
