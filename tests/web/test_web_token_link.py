"""Finding 7 (login CSRF): a `#token=` link that would switch the signed-in account asks first.

A real Chromium against the real gateway (no workers needed: only sign-in is exercised).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe.settings import Settings

from ..gateway.conftest import auth, running_gateway

pytestmark = [pytest.mark.integration]


def _token(subject: str) -> str:
    return auth(subject)["Authorization"].split()[1]


async def test_a_token_link_for_another_account_asks_before_switching(settings: Settings, chromium: Path) -> None:
    from playwright.async_api import async_playwright

    async with running_gateway(settings) as base_url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        page = await (await browser.new_context()).new_page()
        questions: list[str] = []
        answer = {"accept": False}

        async def on_dialog(dialog: object) -> None:
            questions.append(dialog.message)  # type: ignore[attr-defined]
            await (dialog.accept() if answer["accept"] else dialog.dismiss())  # type: ignore[attr-defined]

        page.on("dialog", on_dialog)
        # The pages must work under the gateway's Content-Security-Policy: a blocked script or style logs here.
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        who = page.get_by_test_id("signed-in-as")

        # Given alice signed in through her own link (nobody was signed in: no question)
        await page.goto(f"{base_url}/#token={_token('alice')}")
        await who.wait_for()
        assert await who.inner_text() == "alice" and questions == []
        assert "token=" not in page.url

        # When a link for mallory is opened and the user says no, alice stays signed in
        await page.goto(f"{base_url}/videos#token={_token('mallory')}")
        await who.wait_for()
        assert await who.inner_text() == "alice"
        assert len(questions) == 1 and "mallory" in questions[0] and "alice" in questions[0]
        assert "token=" not in page.url

        # And only when the user agrees does the browser switch
        answer["accept"] = True
        await page.goto(f"{base_url}/#token={_token('mallory')}")
        await who.wait_for()
        assert await who.inner_text() == "mallory" and len(questions) == 2
        assert errors == []
        await browser.close()
