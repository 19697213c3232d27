"""Who may see what: optional authentication for public routes and the media visibility rules."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
from litestar import Request
from litestar.datastructures import State
from psycopg import AsyncConnection

from vidpipe.db.queries import queries
from vidpipe_gateway.auth import CurrentUser, bearer_token, user_for_claims
from vidpipe_gateway.errors import ApiError, not_found


async def optional_user(request: Request[Any, Any, Any], state: State) -> CurrentUser | None:
    """The caller if a token came with the request (a bad token is still a 401), else None (anonymous)."""
    token = bearer_token(request)
    if not token:
        return None
    try:
        claims = state.verifier.verify(token)
    except jwt.InvalidTokenError as error:
        raise ApiError(401, "unauthorized", f"invalid token: {error}") from error
    return await user_for_claims(state.pool, claims)


async def readable_media(conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser | None) -> dict[str, Any]:
    """The media row if the viewer may read it; otherwise 404, exactly as if it did not exist."""
    row: dict[str, Any] | None = await (
        await conn.execute(
            queries.get_readable_media, {"media_id": media_id, "viewer_id": viewer.id if viewer else None}
        )
    ).fetchone()
    if row is None:
        raise not_found("media")
    return row


async def owned_media(conn: AsyncConnection[Any], media_id: uuid.UUID, viewer: CurrentUser) -> dict[str, Any]:
    """The media row if the viewer owns it: readers who are not the owner get 403, everyone else 404."""
    row = await readable_media(conn, media_id, viewer)
    if not row["is_owner"]:
        raise ApiError(403, "forbidden", "only the owner can change this media")
    return row
