"""An audio-only recording end to end in headless Chromium on the real embedded stack: picked in the upload
page, moderated without visual checks, transcribed, summarised, then played in an <audio> element whose
transcript seeks it; the owner's webhook receives the signed task.completed event along the way.

The recording is the repository's 11 s jfk.flac as AAC in an .m4a (what phones and meeting tools export).
Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from vidpipe.testing import shipped_audio

from ..gateway.test_webhooks import Receiver, assert_signed, receiver
from .browser import PIPELINE_TIMEOUT_MS, sign_in, token_for

pytestmark = [pytest.mark.integration, pytest.mark.models]
__all__ = ["receiver"]  # a fixture


def write_m4a(path: Path) -> Path:
    from vidpipe_moderator.testmedia import write_slideshow

    speech = shipped_audio("jfk.flac")
    return write_slideshow(
        path, [np.zeros((8, 8, 3), np.uint8)], seconds_per_image=11, fps=10, audio=speech, include_video=False
    )


@pytest.mark.timeout(900)  # includes starting the stack (module fixture) and loading the models
def test_an_audio_recording_plays_with_its_synced_transcript(
    stack: Any, page: Any, receiver: Receiver, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # Given a user with a webhook endpoint on this machine (the embedded stack allows loopback targets)
    token = token_for(stack, "audio-user")
    created = httpx.post(
        f"{stack.gateway_url}/api/webhooks",
        json={"url": receiver.url, "events": ["task.completed", "task.failed"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]

    # When they pick an .m4a recording in the upload page and upload it
    sign_in(page, stack, "audio-user")
    picker = page.get_by_test_id("file-input")
    assert "audio/*" in (picker.get_attribute("accept") or "")
    picker.set_input_files(str(write_m4a(tmp_path / "board meeting.m4a")))
    expect(page.get_by_test_id("upload-button")).to_be_enabled()
    expect(page.locator("#form-error")).to_be_hidden()
    page.get_by_test_id("upload-button").click()

    # Then it runs through every stage
    tracker = page.get_by_test_id("tracker")
    expect(tracker).to_have_attribute(
        "data-status", re.compile("COMPLETED|FAILED|REJECTED"), timeout=PIPELINE_TIMEOUT_MS
    )
    assert tracker.get_attribute("data-status") == "COMPLETED", page.locator("#task-error").inner_text()

    # And the transcript page plays it in an <audio> element, with the verdict saying why no frames were checked
    page.get_by_test_id("transcript-link").click()
    page.wait_for_url(re.compile(r"/videos/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("segment").first).to_be_visible(timeout=15_000)
    player = page.get_by_test_id("player")
    assert player.evaluate("p => p.tagName") == "AUDIO"
    assert page.locator("video").count() == 0
    expect(page.locator("#moderation-verdict")).to_have_attribute("title", re.compile("^Audio only: no visual checks"))
    page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=30_000)

    # When they click a word, the audio jumps there and the word lights up
    words = page.get_by_test_id("word")
    assert words.count() >= 10
    word = words.nth(words.count() // 2)
    start = float(word.get_attribute("data-start"))
    assert start > 1.0  # far enough from 0 that a seek that did nothing cannot pass
    word.click()
    page.wait_for_function("start => Math.abs(document.querySelector('#player').currentTime - start) < 0.3", arg=start)
    expect(word).to_have_class(re.compile(r"\bcurrent\b"))
    page.screenshot(path=str(artifacts / "audio-1-transcript-player.png"), full_page=True)

    # And the owner's endpoint got the signed completion event for this task
    media_id = page.url.rsplit("/", 1)[1]
    for _ in range(100):  # the dispatcher polls every 2 s
        if receiver.requests:
            break
        page.wait_for_timeout(200)
    assert receiver.requests, "no webhook arrived within 20 s of completion"
    headers, body = receiver.requests[0]
    payload = assert_signed(secret, headers, body)
    assert (payload["type"], payload["data"]["media_id"], payload["data"]["status"]) == (
        "task.completed",
        media_id,
        "COMPLETED",
    )
