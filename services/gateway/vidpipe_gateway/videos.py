"""Upload, start processing, status and live status: the routes the frontend and `vidpipe process` use.

Each route parses, lets authentication name the caller, and calls one use case of `UploadService`.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent

from vidpipe_gateway.auth import CurrentUser
from vidpipe_gateway.events import TaskEventHub
from vidpipe_gateway.schemas import (
    AbortUploadRequest,
    CompleteUploadRequest,
    StartProcessingRequest,
    StartProcessingResponse,
    TaskStatusResponse,
    UploadUrlRequest,
    UploadUrlResponse,
)
from vidpipe_gateway.services import UploadService, trace_id_from

AuthedRequest = Request[CurrentUser, Any, Any]


class VideoController(Controller):
    path = "/api/video"
    tags = ("videos",)

    @post("/upload-url", status_code=201, summary="Reserve a media id and get a presigned upload")
    async def upload_url(
        self, request: AuthedRequest, uploads: NamedDependency[UploadService], data: JSONBody[UploadUrlRequest]
    ) -> UploadUrlResponse:
        return await uploads.reserve(request.user, data)

    @post("/complete-upload", status_code=200, summary="Complete a multipart upload")
    async def complete_upload(
        self, request: AuthedRequest, uploads: NamedDependency[UploadService], data: JSONBody[CompleteUploadRequest]
    ) -> dict[str, str]:
        return await uploads.complete(request.user, data)

    @post("/abort-upload", status_code=200, summary="Abort a multipart upload and forget the media")
    async def abort_upload(
        self, request: AuthedRequest, uploads: NamedDependency[UploadService], data: JSONBody[AbortUploadRequest]
    ) -> dict[str, str]:
        return await uploads.abort(request.user, data)

    @post("/start-processing", status_code=202, summary="Pin and check the upload, then queue the pipeline")
    async def start_processing(
        self, request: AuthedRequest, uploads: NamedDependency[UploadService], data: JSONBody[StartProcessingRequest]
    ) -> StartProcessingResponse:
        return await uploads.start(request.user, data, trace_id_from(request.headers.get("x-trace-id")))

    @get("/status/{task_id:uuid}", summary="A task's status, stages, progress and error")
    async def status(
        self, request: AuthedRequest, uploads: NamedDependency[UploadService], task_id: FromPath[uuid.UUID]
    ) -> TaskStatusResponse:
        return await uploads.status(request.user, task_id)


@get("/api/video/status/{task_id:uuid}/events", tags=["videos"], summary="Live status as Server-Sent Events")
async def status_events(
    request: AuthedRequest,
    uploads: NamedDependency[UploadService],
    hub: NamedDependency[TaskEventHub],
    task_id: FromPath[uuid.UUID],
) -> ServerSentEvent:
    await uploads.status(request.user, task_id)  # 404 unless the caller owns the task
    hub.check_stream_cap(request.user.id)
    return ServerSentEvent(hub.stream(task_id, request.user.id), event_type="status")
