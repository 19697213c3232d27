"""Request and response bodies of the gateway API (msgspec Structs: validated on the way in, fast out)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from vidpipe.messages import SpeakerCount

Filename = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
ContentType = Annotated[str, msgspec.Meta(min_length=3, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")]
Language = Annotated[str, msgspec.Meta(min_length=2, max_length=8, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class UploadUrlRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    filename: Filename
    content_type: ContentType
    size: Annotated[int, msgspec.Meta(ge=0)]


class UploadPart(msgspec.Struct, frozen=True):
    part_number: int
    url: str


class UploadUrlResponse(msgspec.Struct, frozen=True):
    media_id: uuid.UUID
    object_key: str
    method: Literal["PUT", "MULTIPART"]
    expires_at: datetime
    url: str | None = None  # single PUT
    headers: dict[str, str] = {}
    upload_id: str | None = None  # multipart
    part_size: int | None = None
    parts: list[UploadPart] = []


class CompletedPartBody(msgspec.Struct, frozen=True):
    part_number: Annotated[int, msgspec.Meta(ge=1, le=10000)]
    etag: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CompleteUploadRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    object_key: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    upload_id: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    parts: Annotated[list[CompletedPartBody], msgspec.Meta(min_length=1, max_length=10000)]


class AbortUploadRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    object_key: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    upload_id: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class StartProcessingRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    object_key: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    language: Language | None = None
    min_speakers: SpeakerCount | None = None
    max_speakers: SpeakerCount | None = None
    hotwords: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    reprocess: bool = False
    """Run the whole pipeline again on a media that already COMPLETED (otherwise that is a 409)."""


class StartProcessingResponse(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    media_id: uuid.UUID
    status: str


class StageStatus(msgspec.Struct, frozen=True):
    stage: str
    state: Literal["waiting", "running", "retrying", "completed", "failed", "skipped"]
    """`skipped`: the task failed or was rejected before this stage ran, so it never will."""
    attempts: int
    progress: float
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    detail: str | None = None
    eta_s: float | None = None
    """Seconds left while running, extrapolated from the time so far and the progress (5 % to 99 % only)."""


class TaskStatusResponse(msgspec.Struct, frozen=True):
    task_id: uuid.UUID
    media_id: uuid.UUID
    status: str
    current_stage: str | None
    progress_percent: float
    stages: list[StageStatus]
    flagged: bool
    error: ErrorBody | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    reason: str | None = None
    """Why it failed or was rejected, in sentences for people (the error's code is for programs)."""


class Word(msgspec.Struct, frozen=True):
    start: float
    end: float
    word: str
    speaker: str | None
    probability: float | None


class Segment(msgspec.Struct, frozen=True):
    idx: int
    start: float
    end: float
    speaker: str | None
    text: str
    edited: bool
    words: list[Word]


class Speaker(msgspec.Struct, frozen=True, omit_defaults=True):
    label: str
    name: str | None
    name_source: Literal["voice"] | None = None
    """"voice" when one of the owner's voice profiles named this speaker automatically (undoable); absent
    when the name, if any, was typed."""
    voice_confidence: float | None = None
    """For a `voice` name: cosine similarity of this voice and the profile's (0..1); absent otherwise."""


class TranscriptBody(msgspec.Struct, frozen=True):
    id: uuid.UUID
    language: str | None
    duration_s: float | None
    engine: str
    model: str
    speakers: list[Speaker]
    segments: list[Segment]


class Chapter(msgspec.Struct, frozen=True):
    start_s: float
    title: str


class SummaryBody(msgspec.Struct, frozen=True):
    title: str | None
    summary: str
    keywords: list[str]
    chapters: list[Chapter]
    model: str


class ModerationBody(msgspec.Struct, frozen=True):
    verdict: str
    reason: str | None
    frames_scanned: int
    findings: list[dict[str, Any]]
    model: str


class MediaResponse(msgspec.Struct, frozen=True):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int | None
    duration_s: float | None
    visibility: str
    created_at: datetime
    is_owner: bool
    video_url: str | None
    task: TaskStatusResponse | None
    moderation: ModerationBody | None
    transcript: TranscriptBody | None
    summary: SummaryBody | None


Visibility = Literal["private", "friends", "public"]
SpeakerName = Annotated[str, msgspec.Meta(max_length=80)]
SegmentText = Annotated[str, msgspec.Meta(min_length=1, max_length=10000)]


StatusFilter = Literal["NEW", "PENDING", "UPLOAD_COMPLETE", "PROCESSING", "COMPLETED", "FAILED", "REJECTED"]


class MediaListItem(msgspec.Struct, frozen=True):
    id: uuid.UUID
    filename: str
    created_at: datetime
    duration_s: float | None
    visibility: str
    status: str | None
    task_id: uuid.UUID | None
    title: str | None = None
    """The title the summarizer generated, if any (show it instead of the file name)."""
    thumbnail_url: str | None = None
    """A presigned GET of a small JPEG frame, when the moderator stored one."""
    error_code: str | None = None
    reason: str | None = None
    """Why the latest task failed or was rejected, in sentences."""


class MediaPage(msgspec.Struct, frozen=True):
    items: list[MediaListItem]
    next_cursor: str | None


class VisibilityUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    visibility: Visibility


class SpeakerNamesUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    names: Annotated[
        dict[Annotated[str, msgspec.Meta(max_length=40)], SpeakerName | None], msgspec.Meta(min_length=1, max_length=64)
    ]


class SpeakersResponse(msgspec.Struct, frozen=True):
    speakers: list[Speaker]


class SegmentTextUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: SegmentText


class EditRecord(msgspec.Struct, frozen=True):
    id: int
    target: str
    target_key: str
    old_value: str | None
    new_value: str | None
    editor: str | None
    created_at: datetime
    undo_of: int | None = None
    """The edit this one reverted, when it is an undo."""


class FriendRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class Friend(msgspec.Struct, frozen=True):
    subject: str
    created_at: datetime


class Me(msgspec.Struct, frozen=True):
    id: uuid.UUID
    subject: str
