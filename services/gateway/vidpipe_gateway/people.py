"""The caller and their friends (a minimal, directed relation: I let you read my friends-visible media)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from vidpipe.db.queries import queries
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.schemas import Friend, FriendRequest, Me


class PeopleController(Controller):
    path = "/api"
    tags = ("people",)

    @get("/me", summary="Who the token belongs to")
    async def me(self, request: Request[CurrentUser, Any, Any]) -> Me:
        return Me(id=request.user.id, subject=request.user.subject)

    @get("/friends", summary="People who may read my friends-visible media")
    async def friends(self, request: Request[CurrentUser, Any, Any], state: State) -> list[Friend]:
        async with state.pool.connection() as conn:
            rows = await (await conn.execute(queries.list_friends, {"user_id": request.user.id})).fetchall()
        return [Friend(subject=r["subject"], created_at=r["created_at"]) for r in rows]

    @post("/friends", status_code=201, summary="Let a user read my friends-visible media")
    async def add_friend(
        self, request: Request[CurrentUser, Any, Any], state: State, data: JSONBody[FriendRequest]
    ) -> dict[str, str]:
        if data.subject == request.user.subject:
            raise ApiError(400, "invalid_request", "you cannot befriend yourself")
        async with state.pool.connection() as conn, conn.transaction():
            exists = await (await conn.execute(queries.get_user_by_subject, {"subject": data.subject})).fetchone()
            if exists is None:
                raise not_found("user")
            await conn.execute(queries.add_friend, {"user_id": request.user.id, "friend_subject": data.subject})
        return {"subject": data.subject}

    @delete("/friends/{subject:str}", status_code=204, summary="Stop sharing friends-visible media with a user")
    async def remove_friend(
        self, request: Request[CurrentUser, Any, Any], state: State, subject: FromPath[str]
    ) -> None:
        async with state.pool.connection() as conn, conn.transaction():
            row = await (
                await conn.execute(queries.remove_friend, {"user_id": request.user.id, "friend_subject": subject})
            ).fetchone()
        if row is None:
            raise not_found("friend")
