"""The caller and their friends (a minimal, directed relation: I let you read my friends-visible media)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.schemas import Friend, FriendRequest, Me
from vidpipe_gateway.services import PeopleService

AuthedRequest = Request[CurrentUser, Any, Any]


class PeopleController(Controller):
    path = "/api"
    tags = ("people",)

    @get("/me", summary="Who the token belongs to")
    async def me(self, request: AuthedRequest) -> Me:
        return Me(id=request.user.id, subject=request.user.subject)

    @get("/friends", summary="People who may read my friends-visible media")
    async def friends(self, request: AuthedRequest, people: NamedDependency[PeopleService]) -> list[Friend]:
        return [Friend(subject=r["subject"], created_at=r["created_at"]) for r in await people.friends(request.user)]

    @post(
        "/friends",
        status_code=201,
        summary="Let a user read my friends-visible media (the same answer whether or not they have signed in)",
    )
    async def add_friend(
        self, request: AuthedRequest, people: NamedDependency[PeopleService], data: JSONBody[FriendRequest]
    ) -> dict[str, str]:
        await people.add_friend(request.user, data.subject)
        return {"subject": data.subject}

    @delete("/friends/{subject:str}", status_code=204, summary="Stop sharing friends-visible media with a user")
    async def remove_friend(
        self, request: AuthedRequest, people: NamedDependency[PeopleService], subject: FromPath[str]
    ) -> None:
        await people.remove_friend(request.user, subject)
