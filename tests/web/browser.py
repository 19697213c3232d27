"""What the browser tests share: Chromium's path and flags, signing a page in, the artifacts folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MiB = 1024 * 1024
# The pipeline on 2 shared CPU cores: tiny.en plus a 135M LLM finish an 11 s clip in well under this.
PIPELINE_TIMEOUT_MS = 420_000


def need(reason: str) -> None:
    # On a developer machine a missing browser skips; in CI it is a broken setup and must fail loudly.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


def token_for(stack: Any, subject: str) -> str:
    from vidpipe.settings import AuthSettings
    from vidpipe.tokens import mint_local_token

    return mint_local_token(AuthSettings(jwt_secret=stack.env["AUTH_JWT_SECRET"]), subject)


def sign_in(page: Any, stack: Any, subject: str) -> None:
    page.goto(f"{stack.gateway_url}/#token={token_for(stack, subject)}")
    page.get_by_test_id("signed-in-as").wait_for()
    assert "token=" not in page.url, "the token must be stripped from the address bar"
