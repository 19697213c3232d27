"""The transcript editor in a real Chromium against the real gateway (Postgres, moto S3): speed, keyboard
shortcuts, moving a passage to another speaker, the merged view, copy all, the edit history with undo, the
share link and the friends page. The README screenshot (docs/editor.png) is taken here.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import Settings

from ..gateway.conftest import auth, running_gateway
from .seed import (
    ARTIFACTS,
    PASSAGES,
    REPO,
    complete,
    interview_video,
    launched,
    require_chromium,
    signed_in_page,
    upload,
)

# The README's screenshot is made here, in test-artifacts/ on every run; with VIDPIPE_UPDATE_DOCS=1 the run also
# refreshes docs/editor.png (a test run never rewrites a tracked file unasked).
README_SHOT = ARTIFACTS / "editor.png"
DOCS_SHOT = REPO / "docs" / "editor.png"

pytestmark = [pytest.mark.integration]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launched(require_chromium()) as chromium:
        yield chromium


# Predicates are functions, not bare expressions: Playwright evaluates an expression string with eval() while it
# polls, which the gateway's Content-Security-Policy (no 'unsafe-eval') refuses.


async def readme_screenshot(page: Any) -> None:
    """docs/editor.png: the top of the page at 1280 px, in 256 colours so the PNG stays well under 300 KB."""
    from PIL import Image

    raw = ARTIFACTS / "editor-readme-full.png"
    await page.screenshot(path=str(raw), full_page=True)
    with Image.open(raw) as image:
        top = image.convert("RGB").crop((0, 0, 1280, min(image.height, 1400)))
        top.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(README_SHOT, optimize=True)
    if os.environ.get("VIDPIPE_UPDATE_DOCS") == "1":
        shutil.copyfile(README_SHOT, DOCS_SHOT)


async def clipboard(page: Any) -> str:
    # Reading the clipboard needs the document focused; on a loaded machine another window may have it.
    await page.bring_to_front()
    text: str = await page.evaluate("navigator.clipboard.readText()")
    return text


def line(speaker: str, start: float, text: str) -> str:
    return f"{speaker} [00:{int(start):02d}]: {text}"


@pytest.mark.timeout(240)
async def test_the_editor_end_to_end(
    settings: Settings, pool: AsyncConnectionPool[Any], browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    video = interview_video(tmp_path / "jfk.mp4")
    async with running_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        started = await upload(http, "alice", video)
        await complete(pool, started, title="Ask not what your country can do for you")
        media_url = f"{base_url}/videos/{started['media_id']}"
        errors: list[str] = []
        page = await signed_in_page(
            browser, base_url, "alice", errors, permissions=["clipboard-read", "clipboard-write"]
        )
        await page.goto(media_url)
        segments = page.get_by_test_id("segment")
        await expect(segments).to_have_count(len(PASSAGES), timeout=15_000)
        await page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=30_000)
        player = page.get_by_test_id("player")

        # Playback speed: the player runs at the chosen rate, and the choice survives a reload
        await page.get_by_test_id("speed").select_option("1.5")
        assert await player.evaluate("v => v.playbackRate") == 1.5
        await page.reload()
        await expect(segments).to_have_count(len(PASSAGES), timeout=15_000)
        await page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=30_000)
        assert await player.evaluate("v => v.playbackRate") == 1.5
        await page.get_by_test_id("speed").select_option("1")

        # Keyboard: l and Shift+→ forward 5 s, j and Shift+← back 5 s, k and space play and pause
        await page.locator("#title").click()  # focus on the page, not in a field
        await page.keyboard.press("l")
        await page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 5) < 0.3")
        await page.keyboard.press("Shift+ArrowRight")
        await page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 10) < 0.3")
        await page.keyboard.press("j")
        await page.wait_for_function("() => Math.abs(document.querySelector('#player').currentTime - 5) < 0.3")
        await page.keyboard.press("Shift+ArrowLeft")
        await page.wait_for_function("() => document.querySelector('#player').currentTime < 0.3")
        await page.keyboard.press("k")
        await page.wait_for_function("() => !document.querySelector('#player').paused")
        await page.keyboard.press("Space")
        await page.wait_for_function("() => document.querySelector('#player').paused")
        # ...but not while typing: in a text field the keys are letters
        await segments.nth(0).hover()
        await segments.nth(0).get_by_test_id("segment-edit").click()
        before = await player.evaluate("v => v.currentTime")
        await page.keyboard.type(" jkl")
        assert await page.get_by_test_id("segment-input").input_value() == "And so, my fellow Americans, jkl"
        assert await player.evaluate("v => v.paused") and await player.evaluate("v => v.currentTime") == before
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id("segment-input")).to_have_count(0)
        # "?" shows the shortcuts, documented on the page
        await page.locator("#title").click()
        await page.keyboard.press("?")
        help_dialog = page.get_by_test_id("help-dialog")
        await expect(help_dialog).to_be_visible()
        await expect(help_dialog).to_contain_text("Back 5 seconds")
        await expect(help_dialog).to_contain_text("Play or pause")
        await page.screenshot(path=str(ARTIFACTS / "editor-1-shortcuts-help.png"))
        await page.keyboard.press("Escape")
        await expect(help_dialog).to_be_hidden()

        # Name the speakers, then move the second passage to the other speaker
        for label, name in (("SPEAKER_00", "John F. Kennedy"), ("SPEAKER_01", "Audience")):
            row = page.locator(f'#speakers li[data-speaker="{label}"]')
            await row.get_by_test_id("speaker-rename").click()
            await page.get_by_test_id("speaker-name-input").fill(name)
            await page.get_by_test_id("speaker-save").click()
            await expect(
                page.locator(f'#speakers li[data-speaker="{label}"] [data-testid="speaker-name"]')
            ).to_have_text(name)
        second = page.locator('.segment[data-idx="1"]')
        await second.hover()
        await second.get_by_test_id("segment-speaker-select").select_option("SPEAKER_01")
        await expect(second).to_have_attribute("data-speaker", "SPEAKER_01")
        await expect(page.locator('.segment[data-idx="1"] .segment-speaker')).to_have_text("Audience")

        # Merged view: consecutive passages of one speaker read as one turn; the data stays per passage
        await page.get_by_test_id("merge-speakers").check()
        await expect(page.locator(".segment.merged")).to_have_count(2)  # idx 2 and 3 continue idx 1's speaker
        await expect(segments).to_have_count(len(PASSAGES))
        assert await page.locator(".segment.merged").evaluate_all("ns => ns.map(n => n.dataset.idx)") == ["2", "3"]

        # Copy all: "Name [mm:ss]: text" lines, one per turn while merged, one per passage when not
        await page.get_by_test_id("copy-all").click()
        await expect(page.locator("#action-state")).to_have_text("Copied 2 lines")
        copied = await clipboard(page)
        assert copied == "\n".join(
            [
                line("John F. Kennedy", 0.3, PASSAGES[0][3]),
                line("Audience", 3.2, " ".join(p[3] for p in PASSAGES[1:])),
            ]
        )
        await page.get_by_test_id("merge-speakers").uncheck()
        await page.get_by_test_id("copy-all").click()
        copied = await clipboard(page)
        assert copied.splitlines()[1] == line("Audience", 3.2, PASSAGES[1][3])
        assert len(copied.splitlines()) == len(PASSAGES)
        await page.get_by_test_id("merge-speakers").check()

        # Correct a passage, then undo the correction from the history
        third = page.locator('.segment[data-idx="2"]')
        await third.get_by_test_id("segment-text").dblclick()
        await page.get_by_test_id("segment-input").fill("Ask what YOU can do")
        await page.get_by_test_id("segment-input").press("Enter")
        await expect(third.get_by_test_id("segment-text")).to_have_text("Ask what YOU can do")
        history = page.get_by_test_id("history-item")
        await expect(history).to_have_count(4)  # two names, one move, one correction, newest first
        assert await history.evaluate_all("ns => ns.map(n => n.dataset.target)") == [
            "segment_text",
            "segment_speaker",
            "speaker_name",
            "speaker_name",
        ]
        await expect(history.nth(1)).to_contain_text("Audience")  # the move names speakers by their names
        await third.hover()  # its "Move to…" menu and Edit button show, as for a user about to use them
        await readme_screenshot(page)
        await history.nth(0).get_by_test_id("history-undo").click()
        await expect(page.locator('.segment[data-idx="2"]').get_by_test_id("segment-text")).to_have_text(PASSAGES[2][3])
        await expect(history).to_have_count(5)
        await expect(history.nth(0)).to_contain_text("Undo:")
        await expect(history.nth(1).get_by_test_id("history-undo")).to_be_disabled()
        # and undoing the move puts the passage back with its first speaker, after a reload too
        await history.nth(2).get_by_test_id("history-undo").click()
        await expect(page.locator('.segment[data-idx="1"]')).to_have_attribute("data-speaker", "SPEAKER_00")
        await page.reload()
        await expect(page.locator('.segment[data-idx="1"]')).to_have_attribute("data-speaker", "SPEAKER_00")
        await expect(page.locator('.segment[data-idx="2"]').get_by_test_id("segment-text")).to_have_text(PASSAGES[2][3])
        await page.screenshot(path=str(ARTIFACTS / "editor-2-after-undo.png"), full_page=True)

        # Share link: offered only for public media; it opens for a visitor who never signed in
        await expect(page.get_by_test_id("share-link")).to_be_hidden()
        await page.get_by_test_id("visibility").select_option("public")
        await expect(page.locator("#action-state")).to_have_text("Visibility: public")
        await page.get_by_test_id("share-link").click()
        await expect(page.get_by_test_id("share-url")).to_contain_text(media_url)
        assert await clipboard(page) == media_url
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(await clipboard(page))
        await expect(visitor.get_by_test_id("segment")).to_have_count(len(PASSAGES), timeout=15_000)
        await expect(visitor.get_by_test_id("segment-speaker-select")).to_have_count(0)
        await expect(visitor.get_by_test_id("history")).to_be_hidden()
        await visitor.context.close()
        await page.context.close()
        assert errors == [], errors

    shot = README_SHOT.read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(shot[16:20], "big") == 1280  # the IHDR width
    assert len(shot) <= 300_000


@pytest.mark.timeout(180)
async def test_the_friends_page_adds_and_removes_friends(
    settings: Settings, pool: AsyncConnectionPool[Any], browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    video = interview_video(tmp_path / "jfk.mp4")
    async with running_gateway(settings) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        started = await upload(http, "alice", video)
        await complete(pool, started, title="For friends only")
        media_api = f"/api/media/{started['media_id']}"
        await http.patch(media_api, json={"visibility": "friends"}, headers=auth("alice"))
        errors: list[str] = []
        page = await signed_in_page(browser, base_url, "alice", errors)

        # The transcript page points an owner of friends-visible media to the friends page
        await page.goto(f"{base_url}/videos/{started['media_id']}")
        await expect(page.locator("#friends-hint")).to_be_visible(timeout=15_000)
        await page.locator("#friends-hint a").click()
        await page.wait_for_url(re.compile(r"/friends$"))
        await expect(page.locator("#friends-empty")).to_be_visible()

        # When alice adds bob, he is listed and can read the video
        await page.get_by_test_id("friend-subject").fill("bob")
        await page.get_by_test_id("friend-add").click()
        await expect(page.get_by_test_id("friend")).to_have_count(1)
        await expect(page.get_by_test_id("friend")).to_contain_text("bob")
        assert (await http.get(media_api, headers=auth("bob"))).status_code == 200
        # an empty name is refused with a message, and nothing is added
        await page.get_by_test_id("friend-subject").fill("  ")
        await page.get_by_test_id("friend-add").click()
        await expect(page.locator("#friends-error")).to_be_visible()
        await expect(page.get_by_test_id("friend")).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "friends-1-listed.png"), full_page=True)

        # When she removes him (and confirms), the list is empty and the video is closed to him again
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_test_id("friend-remove").click()
        await expect(page.get_by_test_id("friend")).to_have_count(0)
        await expect(page.locator("#friends-empty")).to_be_visible()
        assert (await http.get(media_api, headers=auth("bob"))).status_code == 404
        await page.context.close()
        assert errors == [], errors
