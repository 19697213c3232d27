"""Voice profiles in a real browser (Debian's Chromium driven by Playwright) against the real embedded stack.

The user processes ten seconds of one meeting participant (AMI's FEE013, video A), names her on the
transcript page, then processes the next ten seconds of her (video B, never heard before): B's speaker arrives
named after A's, with the match's confidence, and one click undoes it. The "Voices" page lists the profile
to rename and delete; another user sees none of it. The videos go up through the API client (the upload
page has its own test); everything the feature shows happens in the browser. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidpipe.testing import shipped_audio

from .browser import ARTIFACTS, token_for

NAME = "Fiona"

pytestmark = [pytest.mark.integration, pytest.mark.models]


def new_page(browser: Any, stack: Any, subject: str, errors: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{stack.gateway_url}/#token={token_for(stack, subject)}")
    page.get_by_test_id("signed-in-as").wait_for()
    return page


def meeting_video(directory: Path, name: str, start_s: float, end_s: float) -> Path:
    """A short MP4 of one stretch of the shipped AMI clip over a plain picture (small: the CPU is shared)."""
    from vidpipe_moderator.testmedia import write_slideshow
    from vidpipe_transcriber.audio import SAMPLE_RATE, decode_audio

    samples = decode_audio(shipped_audio("ami-mixture.flac"))[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)]
    audio = directory / f"{name}.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    picture = np.full((180, 320, 3), (40, 70, 140), dtype=np.uint8)
    return write_slideshow(
        directory / f"{name}.mp4", [picture], seconds_per_image=end_s - start_s, fps=5, size=(320, 180), audio=audio
    )


def process(stack: Any, subject: str, video: Path) -> str:
    from rich.console import Console

    from vidpipe.client import process_file

    media = process_file(stack.gateway_url, token_for(stack, subject), video, {"language": "en"}, Console(quiet=True))
    media_id: str = media["id"]
    return media_id


@pytest.mark.timeout(1200)  # the stack's start, two videos through every stage on a shared CPU
def test_a_named_voice_is_recognised_in_the_next_video_and_undone(stack: Any, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    # FEE013 talks alone (but for a few short backchannels) from 7.4 s to 29.8 s of the AMI clip.
    first = process(stack, "voice-user", meeting_video(tmp_path, "meeting part 1", 8.1, 18.5))

    # Given the user named A's speaker on its transcript page
    page = new_page(browser, stack, "voice-user", errors)
    page.goto(f"{stack.gateway_url}/videos/{first}")
    row = page.locator('li[data-speaker="SPEAKER_00"]')
    row.get_by_test_id("speaker-rename").click()
    page.get_by_test_id("speaker-name-input").fill(NAME)
    page.get_by_test_id("speaker-save").click()
    expect(row.get_by_test_id("speaker-name")).to_have_text(NAME)
    expect(row.get_by_test_id("voice-match")).to_have_count(0)  # a typed name is no automatic one

    # When video B, the next sentence of the same voice, is processed
    second = process(stack, "voice-user", meeting_video(tmp_path, "meeting part 2", 19.0, 29.7))

    # Then B's speaker arrives with the name, the match's confidence and an undo
    page.goto(f"{stack.gateway_url}/videos/{second}")
    row = page.locator('li[data-speaker="SPEAKER_00"]')
    expect(row.get_by_test_id("speaker-name")).to_have_text(NAME, timeout=15_000)
    expect(row.get_by_test_id("voice-match")).to_have_text(re.compile(r"^voice match (\d{2}|100)%$"))
    percent = int(re.search(r"(\d+)%", row.get_by_test_id("voice-match").inner_text()).group(1))  # type: ignore[union-attr]
    assert 70 <= percent <= 100  # at least the match threshold (bench/voices.py)
    expect(page.locator('.segment-speaker[data-speaker="SPEAKER_00"]').first).to_have_text(NAME)
    page.screenshot(path=str(ARTIFACTS / "voices-1-auto-label.png"), full_page=True)

    # When the user undoes it, the machine label is back everywhere, and matching again keeps it off
    row.get_by_test_id("voice-undo").click()
    expect(row.get_by_test_id("speaker-name")).to_have_text("SPEAKER_00")
    expect(row.get_by_test_id("voice-match")).to_have_count(0)
    expect(page.locator('.segment-speaker[data-speaker="SPEAKER_00"]').first).to_have_text("SPEAKER_00")
    page.get_by_test_id("voice-match-now").click()
    expect(page.locator(".voice-tools .save-state")).to_have_text("No known voice found")
    expect(row.get_by_test_id("speaker-name")).to_have_text("SPEAKER_00")
    page.reload()
    expect(page.locator('li[data-speaker="SPEAKER_00"]').get_by_test_id("speaker-name")).to_have_text("SPEAKER_00")
    page.screenshot(path=str(ARTIFACTS / "voices-2-undone.png"), full_page=True)

    # The Voices page lists the profile; renaming it renames the speaker named after it
    page.goto(f"{stack.gateway_url}/voices")
    voice = page.locator("tr[data-voice-id]")
    expect(voice).to_have_count(1)
    expect(voice.get_by_test_id("voice-name")).to_have_text(NAME)
    expect(voice).to_contain_text("learnt from 1 speaker")
    page.screenshot(path=str(ARTIFACTS / "voices-3-profiles.png"), full_page=True)
    voice.get_by_test_id("voice-rename").click()
    page.get_by_test_id("voice-name-input").fill("Fiona (FEE013)")
    page.get_by_test_id("voice-save").click()
    expect(page.locator("tr[data-voice-id]").get_by_test_id("voice-name")).to_have_text("Fiona (FEE013)")
    page.goto(f"{stack.gateway_url}/videos/{first}")
    expect(page.locator('li[data-speaker="SPEAKER_00"]').get_by_test_id("speaker-name")).to_have_text(
        "Fiona (FEE013)", timeout=15_000
    )

    # Another user has no voices at all, and cannot see this one
    other_errors: list[str] = []
    stranger = new_page(browser, stack, "someone-else", other_errors)
    stranger.goto(f"{stack.gateway_url}/voices")
    expect(stranger.get_by_test_id("voices-empty")).to_be_visible()
    stranger.context.close()

    # Deleting takes two clicks and leaves the list empty
    page.goto(f"{stack.gateway_url}/voices")
    delete = page.locator("tr[data-voice-id]").get_by_test_id("voice-delete")
    delete.click()
    expect(delete).to_have_text("Really forget this voice?")
    delete.click()
    expect(page.get_by_test_id("voices-empty")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "voices-4-deleted.png"), full_page=True)
    page.context.close()
    assert not errors and not other_errors, errors + other_errors
