"""Notes, images, search and exports in a real Chromium against the real gateway (Postgres, moto S3/SQS).

No workers run: the video is uploaded through the API like the page does, and its transcript is stored with
the transcriber's own persist code, so the test spends its time in the browser, not in the models.
Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings

from ..gateway.conftest import auth, finish_with_transcript, running_gateway
from ..gateway.test_annotations import png

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
pytestmark = [pytest.mark.integration]


def six_second_video(path: Path) -> Path:
    from vidpipe_moderator.testmedia import write_slideshow

    colours = [np.full((90, 160, 3), value, dtype=np.uint8) for value in (40, 120, 200)]
    return write_slideshow(path, colours, seconds_per_image=2, fps=5, size=(160, 90), faststart=True)


async def processed_video(base_url: str, pool: AsyncConnectionPool[Any], video: Path, user: str) -> str:
    """Upload as the page does (reserve, PUT, start), then store the fixtures' two-speaker transcript."""
    headers = auth(user)
    data = video.read_bytes()  # noqa: ASYNC240 (a small local file, once)
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as api:
        body = {"filename": "board meeting.mp4", "content_type": "video/mp4", "size": len(data)}
        target = (await api.post("/api/video/upload-url", json=body)).json()
        async with httpx.AsyncClient() as storage:
            (await storage.put(target["url"], content=data, headers=target["headers"])).raise_for_status()
        started = (await api.post("/api/video/start-processing", json={"object_key": target["object_key"]})).json()
    await finish_with_transcript(pool, started["task_id"], started["media_id"])
    media_id: str = started["media_id"]
    return media_id


async def until(page: Any, expression: str, timeout_s: float = 15) -> None:
    """Poll from here: Playwright's in-page polling evaluates strings, which the gateway's CSP forbids."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await page.evaluate(expression):
        assert asyncio.get_running_loop().time() < deadline, f"still false after {timeout_s} s: {expression}"
        await asyncio.sleep(0.1)


async def wait_for_player_at(page: Any, seconds: float) -> None:
    await until(page, f"Math.abs(document.querySelector('#player').currentTime - {seconds}) < 0.05")


async def test_notes_and_images_inline_then_search_jumps_to_the_note(
    settings: Settings, pool: AsyncConnectionPool[Any], chromium: Path, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image = tmp_path / "whiteboard.png"
    image.write_bytes(png(64, 40))
    async with running_gateway(settings) as base_url, async_playwright() as pw:
        media_id = await processed_video(base_url, pool, six_second_video(tmp_path / "board.mp4"), "nora")
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        token = auth("nora")["Authorization"].split()[1]

        # Given nora on her transcript page, the player at "welcome." (1.0 s) by a click on the word
        await page.goto(f"{base_url}/videos/{media_id}#token={token}")
        segments = page.get_by_test_id("segment")
        await expect(segments).to_have_count(2, timeout=15_000)
        await until(page, "document.querySelector('#player').readyState >= 1")
        await page.get_by_test_id("word").filter(has_text="welcome.").click()
        await wait_for_player_at(page, 1.0)
        await expect(page.get_by_test_id("note-time")).to_contain_text("0:01")

        # When she writes a note and adds it
        await page.get_by_test_id("note-text").fill("Pelican budget: ask <b>Ada</b> about the numbers")
        await page.get_by_test_id("note-add").click()

        # Then it appears inline between the two passages, as text (the markup is not interpreted)
        note = page.get_by_test_id("annotation").filter(has_text="Pelican budget")
        await expect(note).to_be_visible()
        typed = "Pelican budget: ask <b>Ada</b> about the numbers"
        await expect(note.get_by_test_id("annotation-text")).to_have_text(typed)
        order = await page.eval_on_selector_all(
            "#transcript > *", "nodes => nodes.map(n => n.dataset.testid + ':' + (n.dataset.idx ?? n.dataset.kind))"
        )
        assert order == ["segment:0", "annotation:note", "segment:1"], order

        # When she moves to "having" (3.0 s), writes a caption and picks an image
        await page.get_by_test_id("word").filter(has_text="having").click()
        await wait_for_player_at(page, 3.0)
        await page.get_by_test_id("note-text").fill("Whiteboard after the vote")
        await page.get_by_test_id("note-image").set_input_files(str(image))

        # Then the image is uploaded to storage, confirmed, and shown (loaded from storage) after the last passage
        picture = page.get_by_test_id("annotation-image")
        await expect(picture).to_be_visible(timeout=15_000)
        await until(page, "document.querySelector('[data-testid=annotation-image]').naturalWidth === 64")
        await expect(page.get_by_test_id("annotation").filter(has=picture)).to_contain_text("Whiteboard after the vote")
        order = await page.eval_on_selector_all(
            "#transcript > *", "nodes => nodes.map(n => n.dataset.idx ?? n.dataset.kind)"
        )
        assert order == ["0", "note", "1", "image"], order
        await page.screenshot(path=str(ARTIFACTS / "notes-1-inline-note-and-image.png"), full_page=True)

        # And both survive a reload
        await page.reload()
        await expect(page.get_by_test_id("annotation")).to_have_count(2, timeout=15_000)

        # When she finds "thanks" in this transcript, the count shows and Enter jumps to that passage (2.0 s)
        await page.get_by_test_id("find-input").fill("THANKS")
        await expect(page.get_by_test_id("find-count")).to_have_text("1 of 1")
        await page.get_by_test_id("find-input").press("Enter")
        await wait_for_player_at(page, 2.0)
        await page.get_by_test_id("find-input").fill("the")  # "the numbers", "the vote": notes are searched too
        await expect(page.get_by_test_id("find-count")).to_have_text("1 of 2")
        await page.get_by_test_id("find-previous").click()
        await expect(page.get_by_test_id("find-count")).to_have_text("2 of 2")
        await wait_for_player_at(page, 3.0)
        await page.screenshot(path=str(ARTIFACTS / "notes-2-find-in-transcript.png"), full_page=True)

        # And the TXT export carries the speakers and both notes
        async with page.expect_download() as download_info:
            await page.get_by_test_id("download-txt").click()
        download = await download_info.value
        text = Path(await download.path()).read_text()  # noqa: ASYNC240 (a small local file, once)
        assert "NOTE: Pelican budget" in text and "IMAGE: Whiteboard after the vote" in text, text
        assert re.fullmatch(r"board[ _]meeting\.txt", download.suggested_filename)

        # When she searches her library from the videos page for "pelic"
        await page.goto(f"{base_url}/videos")
        await page.get_by_placeholder("Search transcripts and notes").fill("pelic")
        await page.get_by_placeholder("Search transcripts and notes").press("Enter")
        await page.wait_for_url(re.compile(r"/search\?q=pelic"))
        hit = page.get_by_test_id("search-hit").first
        await expect(hit).to_be_visible(timeout=15_000)
        await expect(hit).to_have_attribute("data-kind", "note")
        await expect(hit.locator("mark")).to_have_text("Pelican")
        await expect(hit.get_by_test_id("search-snippet")).to_contain_text("ask <b>Ada</b>")
        await page.screenshot(path=str(ARTIFACTS / "notes-3-search-results.png"), full_page=True)

        # Then the hit opens the transcript with the player at the note's time (1.0 s), the note in view
        await hit.get_by_test_id("search-hit-link").click()
        await page.wait_for_url(re.compile(rf"/videos/{media_id}#t=1\.00$"))
        await wait_for_player_at(page, 1.0)
        await expect(page.get_by_test_id("annotation").first).to_be_in_viewport()
        await page.screenshot(path=str(ARTIFACTS / "notes-4-jumped-from-search.png"), full_page=False)

        # And on a phone (375 px) the notes, the find bar and the search page fit the width
        await page.set_viewport_size({"width": 375, "height": 800})
        for url, shot in (
            (page.url, "notes-5-phone-transcript.png"),
            (f"{base_url}/search?q=budget", "notes-6-phone-search.png"),
        ):
            await page.goto(url)
            await expect(page.locator("[data-testid=annotation], [data-testid=search-hit]").first).to_be_visible()
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375, url
            await page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

        # But another user finds nothing of hers
        other = await (await browser.new_context()).new_page()
        await other.goto(f"{base_url}/search?q=pelican#token={auth('mallory')['Authorization'].split()[1]}")
        nothing = "Nothing found for “pelican”."
        await expect(other.get_by_test_id("search-summary")).to_have_text(nothing, timeout=15_000)

        # And when she makes the video public before moderation allowed it (no verdict is stored here), the
        # other user reads the transcript but is told only the owner can play the video
        async with httpx.AsyncClient(base_url=base_url, headers=auth("nora")) as api:
            (await api.patch(f"/api/media/{media_id}", json={"visibility": "public"})).raise_for_status()
        await other.goto(f"{base_url}/videos/{media_id}")
        await expect(other.get_by_test_id("segment")).to_have_count(2, timeout=15_000)
        await expect(other.locator("#player")).to_be_hidden()
        await expect(other.locator("#no-video")).to_have_text(re.compile("^Only the owner can play this video"))
        assert errors == [], errors
        await browser.close()
