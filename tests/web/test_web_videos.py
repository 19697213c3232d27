""" "My videos" and the status tracker in a real Chromium against the real gateway (Postgres, moto S3).

My videos: the generated title over the file name, the thumbnail the moderator stored, the length, the reason a
video failed in sentences, the status filter, and a phone's 375 px width without sideways scrolling. The
tracker: the task's status words, "skipped" for stages a failure cut off, the time left of a running stage.
Sign-in: a `#token=` link opened in a tab that is already open.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings
from vidpipe.taskstate import insert_event
from vidpipe_gateway.failures import SENTENCES

from ..gateway.conftest import running_gateway
from .seed import (
    ARTIFACTS,
    complete,
    fail,
    interview_video,
    launched,
    new_page,
    require_chromium,
    signed_in_page,
    store_thumbnail,
    token,
    upload,
)

pytestmark = [pytest.mark.integration]

NO_AUDIO = "the video has no audio to transcribe"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launched(require_chromium()) as chromium:
        yield chromium


async def no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((n) => n.getBoundingClientRect().right > 375.5 && n.getClientRects().length)
            .slice(0, 8)
            .map((n) => `${n.tagName}#${n.id}.${n.className} ${Math.round(n.getBoundingClientRect().right)}`)"""
    )
    assert width <= 375, f"{page.url} is {width} px wide at a 375 px viewport: {wide}"


@pytest.mark.timeout(180)
async def test_my_videos_show_what_each_video_is_and_filter_by_status(
    settings: Settings, pool: AsyncConnectionPool[Any], browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    video = interview_video(tmp_path / "jfk.mp4")
    async with running_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        # Given a finished video with a generated title and a thumbnail, a failed one, and one still queued
        done = await upload(http, "alice", video, "2026-11-30 kennedy inaugural raw camera file.mp4")
        await complete(pool, done, title="Ask not what your country can do for you")
        await store_thumbnail(settings, pool, done["media_id"], tmp_path)
        failed = await upload(http, "alice", video, "silent.mp4")
        await fail(pool, failed, "no_audio_stream", NO_AUDIO)
        queued = await upload(http, "alice", video, "queued.mp4")
        await upload(http, "bob", video, "bobs.mp4")  # someone else's: never listed

        errors: list[str] = []
        page = await signed_in_page(browser, base_url, "alice", errors)
        await page.goto(f"{base_url}/videos")
        rows = page.get_by_test_id("media-row")
        await expect(rows).to_have_count(3, timeout=15_000)

        # The finished video: title first, file name beneath, its thumbnail loaded, its length
        row = page.locator(f'tr[data-media-id="{done["media_id"]}"]')
        await expect(row.get_by_test_id("media-title")).to_have_text("Ask not what your country can do for you")
        await expect(row.get_by_test_id("media-filename")).to_have_text(
            "2026-11-30 kennedy inaugural raw camera file.mp4"
        )
        await expect(row.get_by_test_id("media-duration")).to_have_text("0:11")
        thumb = row.get_by_test_id("thumbnail")
        await expect(thumb).to_be_visible()
        await page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=await thumb.element_handle(), timeout=10_000
        )
        assert await thumb.evaluate("img => img.naturalWidth") == 320
        # The failed one says why, in sentences; the queued one has neither a title nor a reason
        failed_row = page.locator(f'tr[data-media-id="{failed["media_id"]}"]')
        await expect(failed_row.get_by_test_id("failure-reason")).to_have_text(SENTENCES["no_audio_stream"])
        await expect(failed_row.get_by_test_id("media-title")).to_have_text("silent.mp4")
        queued_row = page.locator(f'tr[data-media-id="{queued["media_id"]}"]')
        await expect(queued_row.get_by_test_id("failure-reason")).to_have_count(0)
        await expect(queued_row.locator("[data-status]").first).to_have_attribute("data-status", "UPLOAD_COMPLETE")
        await page.screenshot(path=str(ARTIFACTS / "videos-1-list.png"), full_page=True)

        # Filtering by status shows only those videos, and the choice is kept in the address
        status_filter = page.get_by_test_id("status-filter")
        await status_filter.select_option(label="Failed or rejected")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-media-id", failed["media_id"])
        assert "status=FAILED%2CREJECTED" in page.url
        await status_filter.select_option(label="In progress")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-media-id", queued["media_id"])
        await status_filter.select_option(label="Not started")
        await expect(rows).to_have_count(0)
        await expect(page.get_by_test_id("filter-empty")).to_be_visible()
        await page.reload()
        await expect(status_filter).to_have_value("NEW")
        await status_filter.select_option(label="All videos")
        await expect(rows).to_have_count(3)

        # On a 375 px phone the list fits the width: nothing scrolls sideways
        phone = await signed_in_page(browser, base_url, "alice", errors, viewport={"width": 375, "height": 812})
        await phone.goto(f"{base_url}/videos")
        await expect(phone.get_by_test_id("media-row")).to_have_count(3, timeout=15_000)
        await expect(phone.get_by_test_id("media-duration").first).to_be_visible()
        await expect(phone.get_by_test_id("failure-reason")).to_be_visible()
        await no_sideways_scroll(phone)
        await phone.screenshot(path=str(ARTIFACTS / "videos-2-phone-375.png"), full_page=True)
        for path in ("/friends", f"/videos/{done['media_id']}"):
            await phone.goto(f"{base_url}{path}")
            await phone.wait_for_load_state("networkidle")
            await no_sideways_scroll(phone)
        await phone.screenshot(path=str(ARTIFACTS / "videos-3-transcript-phone-375.png"), full_page=True)
        assert errors == [], errors


@pytest.mark.timeout(180)
async def test_the_tracker_shows_status_words_skipped_stages_reasons_and_time_left(
    settings: Settings, pool: AsyncConnectionPool[Any], browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    video = interview_video(tmp_path / "jfk.mp4")
    async with running_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        failed = await upload(http, "alice", video, "silent.mp4")
        await fail(pool, failed, "no_audio_stream", NO_AUDIO)
        running = await upload(http, "alice", video, "running.mp4")
        task_id = uuid.UUID(running["task_id"])
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
            await insert_event(conn, task_id, "moderate", "progress", progress=0.25, detail={"detail": "decoded 3 s"})

        errors: list[str] = []
        page = await signed_in_page(browser, base_url, "alice", errors)

        # A failed task: its word ends the status line, later stages are skipped, the reason is a sentence
        await page.goto(f"{base_url}/videos/{failed['media_id']}")
        tracker = page.get_by_test_id("tracker")
        await expect(tracker).to_have_attribute("data-status", "FAILED", timeout=15_000)
        steps = page.get_by_test_id("status-steps").locator("li")
        assert await steps.all_inner_texts() == ["UPLOAD_COMPLETE", "PROCESSING", "FAILED"]
        await expect(steps.nth(2)).to_have_class("failed")
        await expect(page.locator('.stage[data-stage="moderate"]')).to_have_attribute("data-state", "failed")
        for stage in ("transcribe", "summarize"):
            row = page.locator(f'.stage[data-stage="{stage}"]')
            await expect(row).to_have_attribute("data-state", "skipped")
            await expect(row.locator(".stage-state")).to_have_text("skipped")
        error = page.locator("#task-error")
        await expect(error.get_by_test_id("failure-reason")).to_have_text(SENTENCES["no_audio_stream"])
        await expect(error).to_contain_text("no_audio_stream")  # the code, small, for support
        await page.screenshot(path=str(ARTIFACTS / "tracker-1-failed.png"), full_page=True)

        # A running task: PROCESSING is the current word and the running stage says how long is left
        await page.goto(f"{base_url}/videos/{running['media_id']}")
        await expect(tracker).to_have_attribute("data-status", "PROCESSING", timeout=15_000)
        await expect(page.locator('#status-steps li[aria-current="step"]')).to_have_text("PROCESSING")
        await expect(steps.nth(0)).to_have_class("done")
        moderate = page.locator('.stage[data-stage="moderate"]')
        await expect(moderate).to_have_attribute("data-state", "running")
        # 20 s for a quarter: about a minute more at that pace
        await expect(moderate.get_by_test_id("stage-eta")).to_have_text("about 1 min left")
        await expect(page.locator('.stage[data-stage="transcribe"]')).to_have_attribute("data-state", "waiting")
        await expect(page.locator('.stage[data-stage="transcribe"]').get_by_test_id("stage-eta")).to_have_text("")
        await page.screenshot(path=str(ARTIFACTS / "tracker-2-running.png"), full_page=True)
        await page.context.close()
        assert errors == [], errors


@pytest.mark.timeout(120)
async def test_a_token_link_signs_in_a_tab_that_is_already_open(settings: Settings, browser: Any) -> None:
    from playwright.async_api import expect

    async with running_gateway(settings) as base_url:
        errors: list[str] = []
        page = await new_page(browser, errors)
        questions: list[str] = []

        async def dismiss(dialog: Any) -> None:
            questions.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        # Given a signed-out tab on My videos
        await page.goto(f"{base_url}/videos")
        await expect(page.locator("#signed-out")).to_be_visible()

        # When a sign-in link's fragment arrives in that same tab (pasted into its address bar: no navigation)
        await page.evaluate("t => { location.hash = '#token=' + t; }", token("alice"))

        # Then the tab signs in and shows the list, and the token leaves the address bar
        await expect(page.get_by_test_id("signed-in-as")).to_have_text("alice", timeout=10_000)
        await expect(page.locator("#signed-out")).to_be_hidden()
        await expect(page.locator("#list-empty")).to_be_visible()
        assert "token=" not in page.url and page.url.endswith("/videos")

        # And a link for another account in the open tab asks first; declining keeps alice
        await page.evaluate("t => { location.hash = '#token=' + t; }", token("mallory"))
        for _ in range(100):
            if questions:
                break
            await asyncio.sleep(0.05)
        assert "mallory" in questions[0] and "alice" in questions[0]
        await expect(page.get_by_test_id("signed-in-as")).to_have_text("alice")
        assert "token=" not in page.url
        await page.context.close()
        assert errors == [], errors
