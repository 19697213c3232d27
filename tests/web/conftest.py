"""Fixtures of the browser tests: Playwright's Chromium and ONE embedded stack for the whole session.

The stack (Postgres, S3, SQS, gateway, the three workers with their smallest shipped models) is started once
and shared by every test that processes a real video through it; each test signs in as its own user, so
their videos never meet. Starting it once instead of per module saves a stack start and a model load each.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, MiB, need


def playwright_module(name: str) -> Any:
    """`playwright.<name>` with the system Chromium present; a missing piece skips locally, fails in CI."""
    try:
        module = importlib.import_module(f"playwright.{name}")
    except ImportError:
        need("the `playwright` Python package is not installed")
    if not CHROMIUM.exists():
        need(f"{CHROMIUM} is missing: apt-get install -y $(cat requirements/web-system-packages.txt)")
    return module


@pytest.fixture
def chromium() -> Path:
    """The system Chromium for tests that drive their own (async) Playwright browser."""
    playwright_module("async_api")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    return playwright_module("sync_api")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, playwright_api: Any) -> Iterator[Any]:
    from vidpipe import devstack

    root = tmp_path_factory.mktemp("webstack")
    with pytest.MonkeyPatch.context() as env:
        # The workers inherit the environment DevStack captures at start: the smallest shipped models keep
        # the run short, and a 5 MiB multipart threshold sends the upload test's video through the multipart path.
        env.setenv("TRANSCRIBER_MODEL", "tiny.en")
        env.setenv("SUMMARIZER_LOCAL_MODEL", "SmolLM2-135M-Instruct-Q4_1")
        env.setenv("GATEWAY_MULTIPART_THRESHOLD_BYTES", str(5 * MiB))
        env.setenv("GATEWAY_MULTIPART_PART_BYTES", str(5 * MiB))
        env.setenv("VIDPIPE_LOG_FORMAT", "json")
        # Its own state dir: the checkout's .vidpipe/dev.json may belong to a `vidpipe dev` the developer runs.
        dev = devstack.DevStack(state_dir=root / "state", echo=False)
        with dev:
            yield dev


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    # launch() gives every run a fresh temporary profile (user-data-dir), removed on close.
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Errors the page logs; a test that provokes one on purpose removes it from here."""
    return []


@pytest.fixture
def page(browser: Any, console_errors: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert not console_errors, f"the page logged errors: {console_errors}"
