"""A user's media: list, read (with the visibility rules), edit with history, export, re-summarise, delete.

Each route parses, lets authentication name the caller (optional where anonymous readers may see public
media), and calls one use case of `MediaService`, which also decides who may do what.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from vidpipe_gateway.auth import AUTH_OPTIONAL, CurrentUser
from vidpipe_gateway.schemas import (
    EditRecord,
    MediaPage,
    MediaResponse,
    Segment,
    SegmentTextUpdate,
    SpeakerNamesUpdate,
    SpeakersResponse,
    StartProcessingResponse,
    StatusFilter,
    VisibilityUpdate,
)
from vidpipe_gateway.services import MediaService, trace_id_from
from vidpipe_gateway.subtitles import Subtitles

MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]
AuthedRequest = Request[CurrentUser, Any, Any]
MaybeAuthedRequest = Request[CurrentUser | None, Any, Any]


class MediaController(Controller):
    path = "/api/media"
    tags = ("media",)

    @get("/", summary="My media, newest first (keyset pagination)")
    async def list_media(
        self,
        request: AuthedRequest,
        media: NamedDependency[MediaService],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: FromQuery[str | None] = None,
        status: Annotated[
            list[StatusFilter] | None, QueryParameter(description="only these latest-task statuses (NEW: none yet)")
        ] = None,
    ) -> MediaPage:
        return await media.page(request.user, limit, cursor, list(status) if status else None)

    @get(
        "/{media_id:uuid}", summary="One media with task, moderation, transcript and summary", opt={AUTH_OPTIONAL: True}
    )
    async def get_media(
        self, request: MaybeAuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> MediaResponse:
        return await media.get(request.user, media_id)

    @patch("/{media_id:uuid}", summary="Change who may read this media")
    async def set_visibility(
        self,
        request: AuthedRequest,
        media: NamedDependency[MediaService],
        media_id: MediaId,
        data: JSONBody[VisibilityUpdate],
    ) -> MediaResponse:
        return await media.set_visibility(request.user, media_id, data)

    @patch("/{media_id:uuid}/speakers", summary="Name speakers (null resets a name to its label)")
    async def rename_speakers(
        self,
        request: AuthedRequest,
        media: NamedDependency[MediaService],
        media_id: MediaId,
        data: JSONBody[SpeakerNamesUpdate],
    ) -> SpeakersResponse:
        return await media.rename_speakers(request.user, media_id, data)

    @patch("/{media_id:uuid}/segments/{idx:int}", summary="Correct a segment's text (the machine text is kept)")
    async def edit_segment(
        self,
        request: AuthedRequest,
        media: NamedDependency[MediaService],
        media_id: MediaId,
        idx: FromPath[int],
        data: JSONBody[SegmentTextUpdate],
    ) -> Segment:
        return await media.edit_segment(request.user, media_id, idx, data)

    @get("/{media_id:uuid}/edits", summary="Edit history: who changed what, when (owner only)")
    async def edits(
        self, request: AuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> list[EditRecord]:
        return await media.edits(request.user, media_id)

    @get(
        "/{media_id:uuid}/transcript.srt",
        summary="Subtitles (SRT)",
        opt={AUTH_OPTIONAL: True},
        media_type="application/x-subrip",
    )
    async def srt(
        self, request: MaybeAuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> Response[str]:
        return _download(await media.subtitles(request.user, media_id, "srt"))

    @get(
        "/{media_id:uuid}/transcript.vtt",
        summary="Subtitles (WebVTT)",
        opt={AUTH_OPTIONAL: True},
        media_type="text/vtt",
    )
    async def vtt(
        self, request: MaybeAuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> Response[str]:
        return _download(await media.subtitles(request.user, media_id, "vtt"))

    @post("/{media_id:uuid}/summarize", status_code=202, summary="Summarise again from the current transcript")
    async def resummarize(
        self, request: AuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> StartProcessingResponse:
        return await media.resummarize(request.user, media_id, trace_id_from(request.headers.get("x-trace-id")))

    @delete(
        "/{media_id:uuid}",
        status_code=204,
        summary="Delete a media: its objects, every row about it, and the voices your profiles learnt from it",
    )
    async def delete_media(
        self, request: AuthedRequest, media: NamedDependency[MediaService], media_id: MediaId
    ) -> None:
        await media.delete(request.user, media_id)


def _download(subtitles: Subtitles) -> Response[str]:
    return Response(
        subtitles.text,
        media_type=subtitles.media_type,
        headers={"Content-Disposition": f'attachment; filename="{subtitles.filename}"'},
    )
