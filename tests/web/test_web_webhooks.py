"""The webhooks page in headless Chromium against a real gateway (uvicorn in a thread, real Postgres and moto)
whose own dispatcher posts to a real loopback receiver.

A user adds an endpoint, sees its secret once, sends a test event and watches the delivery log; a second user
sees none of it. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from vidpipe.localinfra import free_port
from vidpipe.settings import AuthSettings, Settings, WebhookSettings
from vidpipe.tokens import mint_local_token
from vidpipe_gateway.app import create_app

from ..gateway.conftest import SECRET
from ..gateway.test_webhooks import Receiver, assert_signed, receiver

pytestmark = [pytest.mark.integration]
__all__ = ["receiver"]  # a fixture reused


@pytest.fixture
def gateway_url(settings: Settings) -> Iterator[str]:
    """The gateway with its webhook dispatcher, served by uvicorn in a thread (the browser test is sync)."""
    hooked = settings.model_copy(
        update={
            "auth": AuthSettings(jwt_secret=SECRET),
            "webhooks": WebhookSettings(allow_private_targets=True, poll_interval_s=0.2, backoff_base_s=30),
        }
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hooked), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


def sign_in(page: Any, base: str, subject: str) -> None:
    token = mint_local_token(AuthSettings(jwt_secret=SECRET), subject)
    page.goto(f"{base}/webhooks#token={token}")
    page.get_by_test_id("signed-in-as").wait_for()


@pytest.mark.timeout(300)
def test_add_an_endpoint_see_the_secret_once_and_follow_its_deliveries(
    gateway_url: str, page: Any, browser: Any, receiver: Receiver, artifacts: Path, console_errors: list[str]
) -> None:
    from playwright.sync_api import expect

    # Given a signed-in user on the webhooks page (linked from the navigation)
    sign_in(page, gateway_url, "hook-user")
    expect(page.locator('.site-nav a[href="/webhooks"]')).to_have_attribute("aria-current", "page")
    expect(page.locator("#endpoints-empty")).to_be_visible()

    # When they try a URL that cannot receive webhooks, the form says why
    page.fill("#webhook-url", "ftp://example.com/hooks")
    page.get_by_test_id("add-webhook").click()
    expect(page.locator("#form-error")).to_contain_text("webhook_target_refused")
    console_errors[:] = [e for e in console_errors if "422" not in e]  # the refused request, on purpose

    # When they add their receiver for completed and failed tasks only
    page.fill("#webhook-url", receiver.url)
    page.fill("#webhook-description", "build server")
    page.locator('input[name="events"][value="task.rejected"]').uncheck()
    page.get_by_test_id("add-webhook").click()

    # Then the secret is shown once, and the endpoint is listed with its events
    secret_box = page.get_by_test_id("secret-box")
    expect(secret_box).to_be_visible()
    secret = page.get_by_test_id("secret").inner_text()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{44}", secret), secret
    endpoint = page.get_by_test_id("endpoint")
    expect(endpoint).to_have_count(1)
    expect(endpoint.locator(".chip")).to_have_text(["completed", "failed"])
    expect(page.locator("#form-error")).to_be_hidden()
    page.screenshot(path=str(artifacts / "webhooks-1-secret-once.png"), full_page=True)

    # When they send a test event, the log shows it delivered with the receiver's answer
    endpoint.get_by_test_id("send-test").click()
    delivery = page.get_by_test_id("delivery").first
    expect(delivery.get_by_test_id("delivery-state")).to_have_text("succeeded", timeout=20_000)
    expect(delivery.get_by_test_id("delivery-answer")).to_have_text("HTTP 200")
    [(headers, body)] = receiver.requests
    assert assert_signed(secret, headers, body)["type"] == "webhook.test"  # signed with the secret shown

    # And a failing receiver shows up as pending with its answer, to be retried later
    receiver.statuses = [500]
    endpoint.get_by_test_id("send-test").click()
    expect(page.get_by_test_id("delivery").first.get_by_test_id("delivery-answer")).to_have_text(
        "HTTP 500", timeout=20_000
    )
    expect(page.get_by_test_id("delivery").first.get_by_test_id("delivery-state")).to_have_text("pending")
    page.screenshot(path=str(artifacts / "webhooks-2-delivery-log.png"), full_page=True)

    # And once dismissed the secret is gone for good: not on the page, not after a reload
    page.get_by_test_id("hide-secret").click()
    expect(secret_box).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("endpoint")).to_have_count(1)
    assert secret not in page.content() and secret[6:] not in page.content()

    # And another user sees none of it
    other = browser.new_context(viewport={"width": 375, "height": 800})
    other_page = other.new_page()
    sign_in(other_page, gateway_url, "someone-else")
    expect(other_page.locator("#endpoints-empty")).to_be_visible()
    assert other_page.evaluate("document.documentElement.scrollWidth") <= 375  # no overflow on a phone
    other.close()

    # When they delete the endpoint, it is gone
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("endpoint").get_by_test_id("delete-webhook").click()
    expect(page.get_by_test_id("endpoint")).to_have_count(0)
    expect(page.locator("#endpoints-empty")).to_be_visible()
