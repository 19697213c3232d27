"""SRT/WebVTT downloads of a stored transcript: the one place the gateway turns its rows into subtitles.

The writers themselves are the platform's (`vidpipe.subtitles`), which escape whatever a user typed; the
rows become the platform's one transcript model on the way.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from vidpipe.subtitles import to_srt, to_vtt
from vidpipe.transcript import TranscriptSegment, TranscriptWord
from vidpipe_gateway.inputs import safe_filename
from vidpipe_gateway.schemas import TranscriptBody


class Subtitles(msgspec.Struct, frozen=True):
    text: str
    media_type: str
    filename: str


def render_subtitles(body: TranscriptBody, filename: str, kind: Literal["srt", "vtt"]) -> Subtitles:
    segments = [
        TranscriptSegment(
            start=s.start,
            end=s.end,
            speaker=s.speaker,
            text=s.text,
            # An edited segment's words no longer match its text: cue it from the text as the user wrote it.
            # Stored words have no leading space; the writer joins them as the model wrote them.
            words=[] if s.edited else [TranscriptWord(start=w.start, end=w.end, word=" " + w.word) for w in s.words],
        )
        for s in body.segments
    ]
    names = {sp.label: sp.name for sp in body.speakers if sp.name}
    # The stored name is the user's own; only a sanitised form may reach a header.
    stem = safe_filename(filename).rsplit(".", 1)[0] or "transcript"
    if kind == "srt":
        return Subtitles(text=to_srt(segments, names), media_type="application/x-subrip", filename=f"{stem}.srt")
    return Subtitles(text=to_vtt(segments, names), media_type="text/vtt", filename=f"{stem}.vtt")
