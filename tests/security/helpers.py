"""Small helpers shared by the security tests (on top of the gateway tier's)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from vidpipe.db.queries import queries
from vidpipe.settings import AuthSettings, GatewaySettings, Settings
from vidpipe_gateway.app import create_app

from ..gateway.conftest import SECRET


@contextlib.asynccontextmanager
async def client_with(settings: Settings, **gateway: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    """A test client whose gateway settings differ from the defaults (lower limits, say)."""
    settings = settings.model_copy(
        update={
            "auth": AuthSettings(jwt_secret=SECRET),
            "gateway": GatewaySettings(**settings.gateway.model_dump() | gateway),
        }
    )
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


async def record_verdict(pool: AsyncConnectionPool[Any], started: dict[str, Any], verdict: str) -> None:
    """The verdict as the moderator stores it (its own query)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            queries.upsert_moderation_result,
            {
                "task_id": started["task_id"],
                "media_id": started["media_id"],
                "verdict": verdict,
                "reason": f"test: {verdict}",
                "frames_scanned": 4,
                "findings": Jsonb([]),
                "model": "test",
            },
        )
