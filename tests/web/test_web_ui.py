"""The web UI in a real browser (Debian's Chromium driven by Playwright) against the real embedded stack.

The session's DevStack (conftest.py: Postgres, S3, SQS, gateway, the three workers with their smallest shipped
models) serves it. The main test walks a user's whole journey: sign in from the URL fragment, upload a video (multipart,
so the ETag/CORS path is exercised), watch the live tracker reach COMPLETED, then correct the transcript and
check the corrections survive a reload. Screenshots go to test-artifacts/web/ for a human to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidpipe.testing import shipped_audio

from .browser import PIPELINE_TIMEOUT_MS, MiB, sign_in, token_for

pytestmark = [pytest.mark.integration, pytest.mark.models]


def write_interview(path: Path, *, with_audio: bool = True) -> Path:
    """11 s of JFK over grainy photos: the grain makes the file bigger than 5 MiB, so it goes multipart."""
    import skimage.data

    from vidpipe_moderator.testmedia import write_slideshow

    fps = 10
    photos = [getattr(skimage.data, name)() for name in ("coffee", "rocket", "astronaut")]  # untyped library
    rng = np.random.default_rng(7)
    frames = []
    count = 11 * fps
    for i in range(count):
        photo = photos[i * len(photos) // count].astype(np.int16)
        frames.append(np.clip(photo + rng.normal(0, 28, photo.shape), 0, 255).astype(np.uint8))
    if not with_audio:
        frames = frames[:fps]  # one second is enough for a clip the moderator must refuse
    return write_slideshow(
        path,
        frames,
        seconds_per_image=1 / fps,
        fps=fps,
        audio=shipped_audio("jfk.flac") if with_audio else None,
        faststart=True,
        size=(640, 360) if with_audio else (320, 180),
    )


def record_attribute(page: Any, selector: str, attribute: str) -> None:
    """Collect every value `attribute` of `selector` takes into window.__seen[attribute] (a live history)."""
    page.evaluate(
        """([selector, attribute]) => {
            window.__seen = window.__seen || {};
            const seen = (window.__seen[attribute] = []);
            const node = document.querySelector(selector);
            new MutationObserver(() => seen.push(node.getAttribute(attribute)))
                .observe(node, { attributes: true, attributeFilter: [attribute] });
        }""",
        [selector, attribute],
    )


@pytest.mark.timeout(900)  # includes starting the stack (module fixture) and loading the models
def test_upload_follow_and_correct_a_transcript(
    stack: Any, page: Any, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    video = write_interview(tmp_path / "kennedy interview.mp4")
    assert video.stat().st_size > 5 * MiB

    # Given a user signed in through the link `vidpipe dev` prints
    sign_in(page, stack, "web-user")

    # When they pick a video, it is previewed before anything is sent
    page.get_by_test_id("file-input").set_input_files(str(video))
    expect(page.get_by_test_id("preview")).to_be_visible()
    expect(page.locator("#preview-duration")).to_have_text(re.compile(r"^1[01]\.\d s$"), timeout=15_000)
    page.fill("#language", "en")
    page.fill("#max-speakers", "2")

    # And they upload it: the bar moves through intermediate values to 100 % and the tracker follows live
    record_attribute(page, "#upload-progress", "value")
    record_attribute(page, "#tracker", "data-status")
    page.get_by_test_id("upload-button").click()
    expect(page.locator("#upload-progress-text")).to_contain_text("uploaded", timeout=60_000)
    assert page.locator("#upload-progress-wrap").get_attribute("data-method") == "MULTIPART"
    progress = [float(v) for v in page.evaluate("window.__seen.value")]
    assert progress[-1] == 100
    assert any(0 < v < 100 for v in progress), f"no intermediate upload progress was shown: {progress}"
    expect(page.get_by_test_id("tracker")).to_be_visible()
    page.screenshot(path=str(artifacts / "1-upload-progress.png"), full_page=True)

    tracker = page.get_by_test_id("tracker")
    expect(tracker).to_have_attribute(
        "data-status", re.compile("COMPLETED|FAILED|REJECTED"), timeout=PIPELINE_TIMEOUT_MS
    )
    page.screenshot(path=str(artifacts / "2-status-completed.png"), full_page=True)
    assert tracker.get_attribute("data-status") == "COMPLETED", page.locator("#task-error").inner_text()
    seen = page.evaluate("window.__seen['data-status']")
    assert "PROCESSING" in seen, f"the tracker never showed the task running: {seen}"
    for stage in ("moderate", "transcribe", "summarize"):
        expect(page.locator(f'.stage[data-stage="{stage}"]')).to_have_attribute("data-state", "completed")
    assert page.locator("#overall-progress").get_attribute("value") == "100"
    expect(page.locator("#task-error")).to_be_hidden()

    # Then the transcript page shows the transcript, summary, keywords and moderation verdict
    page.get_by_test_id("transcript-link").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}$"))
    media_url = page.url
    expect(page.get_by_test_id("segment").first).to_be_visible(timeout=15_000)
    transcript_text = page.get_by_test_id("transcript").inner_text().lower()
    assert "country" in transcript_text, transcript_text
    expect(page.get_by_test_id("summary-text")).not_to_be_empty()
    assert page.get_by_test_id("summary-text").inner_text() != "No summary yet."
    assert page.locator("#keywords .chip").count() >= 1
    expect(page.locator("#moderation-verdict")).to_be_visible()
    expect(page.get_by_test_id("resummarize")).to_be_visible()  # the owner's controls

    # When they click a word, the player jumps to it and the word lights up
    player = page.get_by_test_id("player")
    page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=30_000)
    words = page.get_by_test_id("word")
    assert words.count() >= 10, "expected word-timed spans for faster-whisper's word timestamps"
    word = words.nth(words.count() // 2)
    word_start = float(word.get_attribute("data-start"))
    assert word_start > 1.0  # far enough from 0 that a seek that did nothing cannot pass
    word.click()
    page.wait_for_function(
        "start => Math.abs(document.querySelector('#player').currentTime - start) < 0.3", arg=word_start
    )
    expect(word).to_have_class(re.compile(r"\bcurrent\b"))
    assert abs(player.evaluate("v => v.currentTime") - word_start) < 0.3

    # When they name the first speaker, every passage of that speaker shows the name
    speaker_row = page.get_by_test_id("speakers").locator("li[data-speaker]").first
    label = speaker_row.get_attribute("data-speaker")
    assert label == "SPEAKER_00"
    speaker_row.get_by_test_id("speaker-rename").click()
    page.get_by_test_id("speaker-name-input").fill("John F. Kennedy")
    page.get_by_test_id("speaker-save").click()
    expect(page.locator(f'li[data-speaker="{label}"] [data-testid="speaker-name"]')).to_have_text("John F. Kennedy")
    names = page.locator(f'.segment-speaker[data-speaker="{label}"]')
    assert names.count() >= 1
    for i in range(names.count()):
        expect(names.nth(i)).to_have_text("John F. Kennedy")

    # And correct the first passage's text (Enter saves)
    first = page.get_by_test_id("segment").first
    idx = first.get_attribute("data-idx")
    corrected = "And so, my fellow Americans: ask not what your country can do for you — CORRECTED BY HAND."
    first.hover()
    first.get_by_test_id("segment-edit").click()
    page.get_by_test_id("segment-input").fill(corrected)
    page.get_by_test_id("segment-input").press("Enter")
    edited = page.locator(f'.segment[data-idx="{idx}"]')
    expect(edited).to_have_attribute("data-edited", "true")
    expect(edited.get_by_test_id("segment-text")).to_have_text(corrected)
    expect(edited.get_by_test_id("edited")).to_be_visible()

    # Then both corrections survive a reload (they were stored, not just drawn)
    page.reload()
    expect(page.get_by_test_id("segment").first).to_be_visible(timeout=15_000)
    edited = page.locator(f'.segment[data-idx="{idx}"]')
    expect(edited.get_by_test_id("segment-text")).to_have_text(corrected)
    expect(edited.get_by_test_id("edited")).to_be_visible()
    expect(page.locator(f'li[data-speaker="{label}"] [data-testid="speaker-name"]')).to_have_text("John F. Kennedy")
    expect(edited.locator(".segment-speaker")).to_have_text("John F. Kennedy")
    page.screenshot(path=str(artifacts / "3-transcript-after-edits.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, the player above the text
    page.screenshot(path=str(artifacts / "5-transcript-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # And the SRT download carries the corrected text and the speaker's name
    with page.expect_download() as download_info:
        page.get_by_test_id("download-srt").click()
    download = download_info.value
    # Named after the upload (Chromium may swap the space for an underscore when it saves the file).
    assert re.fullmatch(r"kennedy[ _]interview\.srt", download.suggested_filename), download.suggested_filename
    srt = Path(download.path()).read_text()
    assert "CORRECTED BY HAND" in srt and "John F. Kennedy" in srt, srt

    # And the video is listed on "My videos" as completed
    page.goto(f"{stack.gateway_url}/videos")
    row = page.locator(f'tr[data-media-id="{media_url.rsplit("/", 1)[1]}"]')
    expect(row).to_be_visible()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "COMPLETED")
    page.screenshot(path=str(artifacts / "6-my-videos.png"), full_page=True)

    # But another user sees neither the private video's page nor the video in their list
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        stranger = other.new_page()
        sign_in(stranger, stack, "someone-else")
        stranger.goto(media_url)
        expect(stranger.get_by_test_id("not-found")).to_be_visible(timeout=15_000)
        expect(stranger.locator("#media")).to_be_hidden()
        stranger.goto(f"{stack.gateway_url}/videos")
        expect(stranger.locator("#list-empty")).to_be_visible()

        # When the owner makes it public, the stranger can read it, without any of the owner's controls
        page.goto(media_url)
        expect(page.get_by_test_id("visibility")).to_have_value("private", timeout=15_000)
        page.get_by_test_id("visibility").select_option("public")
        expect(page.locator("#action-state")).to_have_text("Visibility: public")
        stranger.goto(media_url)
        expect(stranger.get_by_test_id("segment").first).to_be_visible(timeout=15_000)
        expect(stranger.locator(".segment-speaker").first).to_have_text("John F. Kennedy")
        for owner_only in ("visibility", "delete-media", "resummarize", "speaker-rename"):
            expect(stranger.get_by_test_id(owner_only)).to_be_hidden()
        assert stranger.get_by_test_id("segment-edit").count() == 0
        stranger.screenshot(path=str(artifacts / "7-public-video-as-stranger.png"), full_page=True)
        # and so can a visitor who never signed in
        visitor = browser.new_context().new_page()
        visitor.goto(media_url)
        expect(visitor.get_by_test_id("segment").first).to_be_visible(timeout=15_000)
        expect(visitor.locator("#token-form")).to_be_visible()
        expect(visitor.get_by_test_id("resummarize")).to_be_hidden()
        visitor.context.close()
    finally:
        other.close()

    # And the owner can re-run the summary and follow that task on the page
    page.get_by_test_id("resummarize").click()
    summary_task = page.locator("#summary-tracker")
    expect(summary_task).to_have_attribute("data-status", "COMPLETED", timeout=PIPELINE_TIMEOUT_MS)
    expect(summary_task).to_be_hidden()
    expect(page.get_by_test_id("resummarize")).to_be_enabled()
    expect(page.get_by_test_id("summary-text")).not_to_have_text("No summary yet.")


@pytest.mark.timeout(300)
def test_a_video_without_audio_fails_with_its_reason_and_can_be_deleted(
    stack: Any, page: Any, console_errors: list[str], artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    silent = write_interview(tmp_path / "silent.mp4", with_audio=False)
    assert silent.stat().st_size < 5 * MiB  # a single presigned PUT this time
    # This user signs in by pasting a token into the header box instead of following a link
    page.goto(stack.gateway_url)
    expect(page.locator("#signed-out")).to_be_visible()
    page.locator("#token-input").fill(token_for(stack, "web-user-2"))
    page.locator("#token-form button").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("web-user-2")
    # With the event stream refused (a proxy that buffers SSE, say), the page must fall back to polling.
    page.route("**/api/video/status/*/events*", lambda route: route.abort())

    page.get_by_test_id("file-input").set_input_files(str(silent))
    page.get_by_test_id("upload-button").click()
    expect(page.locator("#upload-progress-text")).to_contain_text("uploaded", timeout=30_000)
    assert page.locator("#upload-progress-wrap").get_attribute("data-method") == "PUT"

    tracker = page.get_by_test_id("tracker")
    expect(tracker).to_have_attribute("data-status", "FAILED", timeout=120_000)
    expect(page.locator("#task-error")).to_contain_text("no_audio_stream")
    expect(page.locator("#task-error")).to_contain_text("no audio")
    expect(page.locator('.stage[data-stage="moderate"]')).to_have_attribute("data-state", "failed")
    expect(page.get_by_test_id("transcript-link")).to_be_hidden()
    refused = [e for e in console_errors if "net::ERR_FAILED" in e]
    assert refused, "the event stream was never tried"
    console_errors[:] = [e for e in console_errors if e not in refused]
    page.screenshot(path=str(artifacts / "4-status-failed.png"), full_page=True)

    # The failed video's page says why, and its owner can delete it
    media_id = page.get_by_test_id("transcript-link").get_attribute("href").rsplit("/", 1)[1]
    page.goto(f"{stack.gateway_url}/videos/{media_id}")
    expect(page.locator("#task-card")).to_be_visible(timeout=15_000)
    expect(page.locator("#task-error")).to_contain_text("no_audio_stream")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-media").click()
    page.wait_for_url(re.compile(r"/videos$"))
    expect(page.locator("#list-empty")).to_be_visible()
