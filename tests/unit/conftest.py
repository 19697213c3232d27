from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vidpipe.logging import configure_logging

from .world import World


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> None:
    # Rendering rich tracebacks of every expected failure would cost more than the tests themselves.
    configure_logging("ERROR", "json")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    world = World()
    yield world
    await world.stop_all()
