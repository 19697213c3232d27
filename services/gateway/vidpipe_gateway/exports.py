"""TXT, DOCX and JSON exports of a transcript, next to the SRT/VTT subtitles: speakers by the names the user
gave them, notes and images interleaved where they were pinned, the summary on top.

Readers of the media may export it (the same rule as reading it). DOCX is written with python-docx (the
maintained library for the format: a .docx is a zip of OOXML parts, not something to hand-write); confirmed
PNG, JPEG and GIF images are embedded so the document stands alone.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from docx import Document
from docx.shared import Inches, Pt, RGBColor
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter

from vidpipe.db.queries import queries
from vidpipe_gateway.annotations import AnnotationService, readable_media
from vidpipe_gateway.auth import AUTH_OPTIONAL, CurrentUser
from vidpipe_gateway.errors import ApiError
from vidpipe_gateway.inputs import safe_filename
from vidpipe_gateway.results import latest_transcript, transcript_body
from vidpipe_gateway.services import Backends

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EMBEDDABLE = frozenset({"image/png", "image/jpeg", "image/gif"})  # what python-docx can place in a document
MAX_EMBEDDED_BYTES = 50 * 1024 * 1024  # past this, images are listed by caption only
# XML 1.0 refuses these characters, and python-docx with it; transcripts should not hold any, but a model's
# output is not ours to trust.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class ExportSpeaker(msgspec.Struct, frozen=True):
    label: str
    name: str


class ExportSummary(msgspec.Struct, frozen=True):
    title: str | None
    summary: str
    keywords: list[str]


class SegmentItem(msgspec.Struct, frozen=True, tag="segment", tag_field="type"):
    idx: int
    start: float
    end: float
    speaker: str | None
    speaker_name: str | None
    text: str
    edited: bool


class NoteItem(msgspec.Struct, frozen=True, tag="note", tag_field="type"):
    id: uuid.UUID
    time_s: float
    text: str


class ImageItem(msgspec.Struct, frozen=True, tag="image", tag_field="type"):
    id: uuid.UUID
    time_s: float
    caption: str
    content_type: str
    size_bytes: int
    image_url: str | None
    """Short-lived (a presigned GET): fetch it soon after exporting."""


Item = SegmentItem | NoteItem | ImageItem


class TranscriptExport(msgspec.Struct, frozen=True):
    media_id: uuid.UUID
    filename: str
    title: str
    language: str | None
    duration_s: float | None
    exported_at: datetime
    speakers: list[ExportSpeaker]
    summary: ExportSummary | None
    items: list[Item]


class Download(msgspec.Struct, frozen=True):
    body: bytes
    media_type: str
    filename: str


def clock(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def interleave(
    segments: list[SegmentItem], notes: list[NoteItem | ImageItem], after: dict[uuid.UUID, int]
) -> list[Item]:
    """Segments by start; a note after the segment it names, else after every segment starting at or before it.

    The transcript page places them by the same rule, so a document reads as the page does.
    """
    start_of = {s.idx: s.start for s in segments}
    keyed: list[tuple[float, int, float, int, Item]] = [(s.start, 0, 0.0, n, s) for n, s in enumerate(segments)]
    for n, note in enumerate(notes):
        anchor = start_of.get(after[note.id]) if note.id in after else None
        keyed.append((anchor if anchor is not None else note.time_s, 1, note.time_s, n, note))
    return [item for *_, item in sorted(keyed, key=lambda k: k[:4])]


class ExportService:
    def __init__(self, backends: Backends) -> None:
        self._b = backends

    async def gather(
        self, viewer: CurrentUser | None, media_id: uuid.UUID
    ) -> tuple[TranscriptExport, dict[uuid.UUID, dict[str, Any]]]:
        """The export's content, and the image rows by id (for embedding)."""
        notes = AnnotationService(self._b)
        async with self._b.pool.connection() as conn:
            media = await readable_media(conn, media_id, viewer)
            transcript = await latest_transcript(conn, media_id)
            if transcript is None:
                raise ApiError(409, "no_transcript", "this media has no transcript yet")
            body = await transcript_body(conn, transcript)
            summary = await (
                await conn.execute(queries.latest_summary_for_transcript, {"transcript_id": transcript["id"]})
            ).fetchone()
            rows = await notes.rows(conn, media_id)
        names = {s.label: s.name or s.label for s in body.speakers}
        segments = [
            SegmentItem(
                idx=s.idx,
                start=s.start,
                end=s.end,
                speaker=s.speaker,
                speaker_name=names.get(s.speaker, s.speaker) if s.speaker else None,
                text=s.text,
                edited=s.edited,
            )
            for s in body.segments
        ]
        pinned: list[NoteItem | ImageItem] = []
        for row in rows:
            if row["kind"] == "note":
                pinned.append(NoteItem(id=row["id"], time_s=row["time_s"], text=row["body"]))
            else:
                annotation = await notes.to_response(row)
                pinned.append(
                    ImageItem(
                        id=row["id"],
                        time_s=row["time_s"],
                        caption=row["body"],
                        content_type=row["content_type"],
                        size_bytes=row["size_bytes"],
                        image_url=annotation.image_url,
                    )
                )
        after = {r["id"]: r["after_segment"] for r in rows if r["after_segment"] is not None}
        export = TranscriptExport(
            media_id=media_id,
            filename=media["filename"],
            title=(summary["title"] if summary else None) or media["filename"],
            language=body.language,
            duration_s=media["duration_s"] if media["duration_s"] is not None else body.duration_s,
            exported_at=datetime.now().astimezone(),
            speakers=[ExportSpeaker(label=s.label, name=s.name or s.label) for s in body.speakers],
            summary=ExportSummary(
                title=summary["title"], summary=summary["summary"], keywords=list(summary["keywords"])
            )
            if summary
            else None,
            items=interleave(segments, pinned, after),
        )
        return export, {r["id"]: r for r in rows if r["kind"] == "image"}

    async def export(
        self, viewer: CurrentUser | None, media_id: uuid.UUID, kind: Literal["txt", "json", "docx"]
    ) -> Download:
        export, images = await self.gather(viewer, media_id)
        stem = safe_filename(export.filename).rsplit(".", 1)[0] or "transcript"
        if kind == "txt":
            return Download(
                body=render_txt(export).encode(), media_type="text/plain; charset=utf-8", filename=f"{stem}.txt"
            )
        if kind == "json":
            return Download(body=msgspec.json.encode(export), media_type="application/json", filename=f"{stem}.json")
        pictures = await self._pictures(images)
        body = await asyncio.to_thread(render_docx, export, pictures)
        return Download(body=body, media_type=DOCX_TYPE, filename=f"{stem}.docx")

    async def _pictures(self, images: dict[uuid.UUID, dict[str, Any]]) -> dict[uuid.UUID, bytes]:
        pictures: dict[uuid.UUID, bytes] = {}
        budget = MAX_EMBEDDED_BYTES
        for image_id, row in images.items():
            if row["content_type"] not in EMBEDDABLE or row["size_bytes"] > budget:
                continue
            data = b"".join([chunk async for chunk in self._b.storage.stream(row["image_key"])])
            budget -= len(data)
            pictures[image_id] = data
        return pictures


def _speaker(item: SegmentItem) -> str:
    return item.speaker_name or "Unknown speaker"


def render_txt(export: TranscriptExport) -> str:
    lines = [export.title, "=" * min(len(export.title), 80)]
    facts = [export.filename if export.title != export.filename else None,
             f"language: {export.language}" if export.language else None,
             f"length: {clock(export.duration_s)}" if export.duration_s is not None else None]  # fmt: skip
    lines.append(" · ".join(f for f in facts if f))
    if export.summary:
        lines += ["", "Summary", export.summary.summary]
        if export.summary.keywords:
            lines.append("Keywords: " + ", ".join(export.summary.keywords))
    lines += ["", "Transcript", ""]
    for item in export.items:
        if isinstance(item, SegmentItem):
            lines.append(f"[{clock(item.start)}] {_speaker(item)}: {item.text}")
        elif isinstance(item, NoteItem):
            note = item.text.replace("\n", "\n    ")
            lines.append(f"[{clock(item.time_s)}] NOTE: {note}")
        else:
            caption = f": {item.caption}" if item.caption else ""
            lines.append(f"[{clock(item.time_s)}] IMAGE{caption} ({item.content_type})")
    return "\n".join(lines) + "\n"


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def render_docx(export: TranscriptExport, pictures: dict[uuid.UUID, bytes]) -> bytes:
    document = Document()
    document.core_properties.title = _xml_safe(export.title)[:255]
    document.add_heading(_xml_safe(export.title), level=1)
    facts = [export.filename if export.title != export.filename else None,
             f"Language: {export.language}" if export.language else None,
             f"Length: {clock(export.duration_s)}" if export.duration_s is not None else None]  # fmt: skip
    if any(facts):
        document.add_paragraph(_xml_safe(" · ".join(f for f in facts if f)))
    if export.summary:
        document.add_heading("Summary", level=2)
        document.add_paragraph(_xml_safe(export.summary.summary))
        if export.summary.keywords:
            document.add_paragraph(_xml_safe("Keywords: " + ", ".join(export.summary.keywords)))
    document.add_heading("Transcript", level=2)
    for item in export.items:
        paragraph = document.add_paragraph()
        stamp = paragraph.add_run(f"[{clock(item.start if isinstance(item, SegmentItem) else item.time_s)}] ")
        stamp.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        if isinstance(item, SegmentItem):
            paragraph.add_run(_xml_safe(_speaker(item)) + ": ").bold = True
            paragraph.add_run(_xml_safe(item.text))
            continue
        label = paragraph.add_run("Note: " if isinstance(item, NoteItem) else "Image: ")
        label.bold = label.italic = True
        label.font.color.rgb = RGBColor(0x92, 0x40, 0x0E)
        if isinstance(item, NoteItem):
            lines = _xml_safe(item.text).split("\n")
            for n, line in enumerate(lines):
                run = paragraph.add_run(line)
                run.italic = True
                if n < len(lines) - 1:
                    run.add_break()
            continue
        caption = paragraph.add_run(_xml_safe(item.caption) or "(no caption)")
        caption.italic = True
        if item.id in pictures:
            document.add_picture(io.BytesIO(pictures[item.id]), width=Inches(4))
        else:
            paragraph.add_run(f" ({item.content_type}, not embedded)").font.size = Pt(9)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _service(backends: NamedDependency[Backends]) -> ExportService:
    return ExportService(backends)


MediaId = Annotated[uuid.UUID, PathParameter(description="media id")]
MaybeAuthedRequest = Request[CurrentUser | None, Any, Any]


def _download(download: Download) -> Response[bytes]:
    # The stored file name is the user's own; only its sanitised form (ASCII letters, digits, ._-) reaches
    # the header, so it needs no quoting beyond the quotes themselves.
    return Response(
        download.body,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


class ExportController(Controller):
    path = "/api/media/{media_id:uuid}"
    tags = ("media",)
    dependencies = {"exports": Provide(_service, sync_to_thread=False)}  # noqa: RUF012 (Litestar declares it so)

    @get("/transcript.txt", summary="Plain-text transcript with speaker names and notes", opt={AUTH_OPTIONAL: True})
    async def txt(
        self, request: MaybeAuthedRequest, exports: NamedDependency[ExportService], media_id: MediaId
    ) -> Response[bytes]:
        return _download(await exports.export(request.user, media_id, "txt"))

    @get("/transcript.docx", summary="Word document with speaker names, notes and images", opt={AUTH_OPTIONAL: True})
    async def docx(
        self, request: MaybeAuthedRequest, exports: NamedDependency[ExportService], media_id: MediaId
    ) -> Response[bytes]:
        return _download(await exports.export(request.user, media_id, "docx"))

    @get("/transcript.json", summary="The transcript as JSON, with names, notes and images", opt={AUTH_OPTIONAL: True})
    async def json(
        self, request: MaybeAuthedRequest, exports: NamedDependency[ExportService], media_id: MediaId
    ) -> Response[bytes]:
        return _download(await exports.export(request.user, media_id, "json"))
