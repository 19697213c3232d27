"""The async connection pool every process opens once."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from vidpipe.settings import DatabaseSettings

# Rows come back as dicts (named queries read like records) and jsonb goes through msgspec, which handles
# UUIDs and datetimes inside payloads without ad-hoc conversion.
set_json_dumps(msgspec.json.encode)
set_json_loads(msgspec.json.decode)


async def _configure(conn: AsyncConnection[Any]) -> None:
    conn.row_factory = dict_row


async def open_pool(settings: DatabaseSettings, *, name: str = "vidpipe") -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.url.get_secret_value(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        name=name,
        open=False,
        configure=_configure,
        # Checked on every checkout (a round trip of a few hundred µs on loopback): after a Postgres restart
        # a dead pooled connection is replaced instead of failing the request that drew it (a 500).
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": False},
    )
    await pool.open(wait=True, timeout=30)
    return pool
