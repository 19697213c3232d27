"""Voice profiles over the API: list, rename and delete my voices; undo or redo automatic speaker names.

A profile is made by naming a speaker (`PATCH /api/media/{id}/speakers`, see `vidpipe.voices.learn_voice`);
the transcribe stage names matching speakers of the owner's later recordings. Profiles are the caller's
alone: every statement is scoped by the caller's id, and another user's profile reads as 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

from vidpipe.db.queries import queries
from vidpipe.voices import label_known_voices, lock_owner_voices, undo_voice_label
from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.errors import ApiError, not_found
from vidpipe_gateway.inputs import require_safe
from vidpipe_gateway.results import latest_transcript, speakers_body
from vidpipe_gateway.schemas import SpeakersResponse
from vidpipe_gateway.services import Backends

AuthedRequest = Request[CurrentUser, Any, Any]
VoiceId = Annotated[uuid.UUID, PathParameter(description="voice profile id")]
MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]
SpeakerLabel = Annotated[str, PathParameter(description="machine speaker label, e.g. SPEAKER_00", max_length=40)]


class VoiceProfile(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str
    samples: int
    """How many named speakers the voice was learnt from."""
    models: list[str]
    """The embedding models it holds a voice for (a voice only matches recordings of the same model)."""
    speakers: int
    """Transcript speakers currently linked to it (named by you, or matched automatically)."""
    created_at: datetime
    updated_at: datetime


class VoiceRename(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class VoiceService:
    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def list(self, user: CurrentUser) -> list[VoiceProfile]:
        async with self._b.pool.connection() as conn:
            rows = await (await conn.execute(queries.voice_list_profiles, {"owner_id": user.id})).fetchall()
        return [VoiceProfile(**{k: r[k] for k in VoiceProfile.__struct_fields__}) for r in rows]

    async def rename(self, user: CurrentUser, profile_id: uuid.UUID, data: VoiceRename) -> VoiceProfile:
        name = require_safe(data.name, "name", fold_breaks=True).strip()
        if not name:
            raise ApiError(400, "invalid_request", "a voice needs a name")
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                await lock_owner_voices(conn, user.id)
                try:
                    async with conn.transaction():  # a savepoint: the name clash must not end the transaction
                        row = await _one(
                            conn,
                            queries.voice_rename_profile,
                            {"profile_id": profile_id, "owner_id": user.id, "name": name},
                        )
                except UniqueViolation as error:
                    raise ApiError(409, "voice_name_taken", f"you already have a voice named {name!r}") from error
                if row is None:
                    raise not_found("voice")
                if row["old_name"] != name:
                    # Speakers named after the voice follow it (each change goes into the edit history).
                    await conn.execute(
                        queries.voice_rename_profile_labels,
                        {"profile_id": profile_id, "old_name": row["old_name"], "name": name, "editor_id": user.id},
                    )
            return next(p for p in await self.list(user) if p.id == profile_id)

    async def delete(self, user: CurrentUser, profile_id: uuid.UUID) -> None:
        async with self._b.pool.connection() as conn, conn.transaction():
            await lock_owner_voices(conn, user.id)
            owned = await _one(conn, queries.voice_profile_owned, {"profile_id": profile_id, "owner_id": user.id})
            if owned is None:
                raise not_found("voice")
            await conn.execute(queries.voice_clear_profile_auto_labels, {"profile_id": profile_id})
            await conn.execute(queries.voice_delete_profile, {"profile_id": profile_id, "owner_id": user.id})

    async def undo(self, user: CurrentUser, media_id: uuid.UUID, label: str) -> SpeakersResponse:
        """Back to the machine label; that voice is not suggested for this speaker again."""
        label = require_safe(label, "speaker label")
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                transcript_id = await self._owned_transcript(conn, user, media_id)
                await lock_owner_voices(conn, user.id)
                undone = await undo_voice_label(conn, transcript_id, label)
                if undone is None:
                    raise ApiError(409, "no_voice_label", f"speaker {label!r} has no automatic name to undo")
                await conn.execute(
                    queries.insert_edit,
                    {
                        "media_id": media_id,
                        "transcript_id": transcript_id,
                        "editor_id": user.id,
                        "target": "speaker_name",
                        "target_key": label,
                        "old_value": undone[0],
                        "new_value": None,
                    },
                )
            return SpeakersResponse(speakers=await speakers_body(conn, transcript_id))

    async def match(self, user: CurrentUser, media_id: uuid.UUID) -> SpeakersResponse:
        """Name this transcript's speakers from my voices as they are now (e.g. after naming someone elsewhere)."""
        async with self._b.pool.connection() as conn:
            async with conn.transaction():
                transcript_id = await self._owned_transcript(conn, user, media_id)
                await lock_owner_voices(conn, user.id)
                await label_known_voices(conn, transcript_id)
            return SpeakersResponse(speakers=await speakers_body(conn, transcript_id))

    async def _owned_transcript(self, conn: AsyncConnection[Any], user: CurrentUser, media_id: uuid.UUID) -> uuid.UUID:
        media = await _one(conn, queries.gateway_readable_media, {"media_id": media_id, "viewer_id": user.id})
        if media is None:
            raise not_found("media")
        if not media["is_owner"]:
            raise ApiError(403, "forbidden", "only the owner can do this")
        transcript = await latest_transcript(conn, media_id)
        if transcript is None:
            raise ApiError(409, "no_transcript", "this media has no transcript yet")
        transcript_id: uuid.UUID = transcript["id"]
        return transcript_id


async def _one(conn: AsyncConnection[Any], query: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (await conn.execute(query, params)).fetchone()
    return row


class VoicesController(Controller):
    path = "/api"
    tags = ("voices",)

    @get("/voices", summary="My voice profiles (made by naming speakers)")
    async def list_voices(self, request: AuthedRequest, backends: NamedDependency[Backends]) -> list[VoiceProfile]:
        return await VoiceService(backends).list(request.user)

    @patch("/voices/{voice_id:uuid}", summary="Rename a voice (speakers named after it follow)")
    async def rename_voice(
        self,
        request: AuthedRequest,
        backends: NamedDependency[Backends],
        voice_id: VoiceId,
        data: JSONBody[VoiceRename],
    ) -> VoiceProfile:
        return await VoiceService(backends).rename(request.user, voice_id, data)

    @delete("/voices/{voice_id:uuid}", status_code=204, summary="Forget a voice (its automatic names are undone)")
    async def delete_voice(
        self, request: AuthedRequest, backends: NamedDependency[Backends], voice_id: VoiceId
    ) -> None:
        await VoiceService(backends).delete(request.user, voice_id)

    @delete(
        "/media/{media_id:uuid}/speakers/{label:str}/voice",
        status_code=200,
        summary="Undo an automatic name: back to the machine label, and that voice is not suggested there again",
    )
    async def undo_voice(
        self, request: AuthedRequest, backends: NamedDependency[Backends], media_id: MediaId, label: SpeakerLabel
    ) -> SpeakersResponse:
        return await VoiceService(backends).undo(request.user, media_id, label)

    @post("/media/{media_id:uuid}/speakers/voices", status_code=200, summary="Name speakers from my voices now")
    async def match_voices(
        self, request: AuthedRequest, backends: NamedDependency[Backends], media_id: MediaId
    ) -> SpeakersResponse:
        return await VoiceService(backends).match(request.user, media_id)
