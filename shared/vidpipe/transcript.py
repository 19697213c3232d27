"""The one transcript model: segments, words, speakers — what the transcriber produces, the summarizer reads,
the gateway serves and the CLI prints — with its mapping to and from Postgres rows.

Times are seconds from the start of the audio, rounded to milliseconds. Speaker labels are `SPEAKER_00`,
`SPEAKER_01`… numbered by first appearance, so the same audio always yields the same labels; the names
users give them live in `speaker_names`, so the machine original never changes. Fields added later have
defaults, so a transcript written by an older version still decodes.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from psycopg import AsyncConnection

from vidpipe.db.queries import queries

# Languages the transcriber could not detect.
_UNKNOWN_LANGUAGES = frozenset({"", "und", "unknown"})


class SpeakerTurn(msgspec.Struct, frozen=True, kw_only=True):
    """Who spoke when, from the diarizer alone (no words): drives the timeline and DER scoring."""

    start: float
    end: float
    speaker: str


class TranscriptWord(msgspec.Struct, frozen=True, kw_only=True):
    start: float
    end: float
    word: str
    """As the model wrote it, with its leading space and punctuation ("  Hello,")."""
    probability: float = 1.0
    speaker: str | None = None


class TranscriptSegment(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of one speaker's words; never spans a change of speaker."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    """Diarizer label (`SPEAKER_00`...); None when diarization was off."""
    words: list[TranscriptWord] = []


class SpeakerSummary(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    speech_seconds: float = 0.0
    """Time the diarizer attributes to this speaker."""
    word_count: int = 0
    embedding: list[float] = []
    """The voice: the centroid of this speaker's diarizer embeddings (empty when the engine gave none)."""


class Transcript(msgspec.Struct, frozen=True, kw_only=True):
    segments: list[TranscriptSegment]
    language: str = "und"
    """ISO 639-1 code, or "und" when there was no speech to detect it from."""
    language_probability: float = 0.0
    duration: float = 0.0
    """Length of the audio; 0 when unknown (see `span`)."""
    engine: str = ""
    model: str = ""
    words: list[TranscriptWord] = []
    speakers: list[SpeakerSummary] = []
    turns: list[SpeakerTurn] = []
    speaker_names: dict[str, str] = {}
    """Display names users gave to diarizer labels; a label without a name is shown as the label."""
    embedding_model: str = ""
    """Which model's space the speakers' embeddings live in (voices of different models are never compared)."""

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)

    @property
    def span(self) -> float:
        """How long the recording is: its duration, or the end of its last segment when that is unknown."""
        return max(self.duration, max((segment.end for segment in self.segments), default=0.0))

    @property
    def known_language(self) -> str | None:
        return None if self.language.strip().lower() in _UNKNOWN_LANGUAGES else self.language

    def speaker_display_name(self, label: str | None) -> str | None:
        if label is None:
            return None
        return self.speaker_names.get(label, "").strip() or label


async def save_transcript(
    conn: AsyncConnection[Any],
    transcript: Transcript,
    *,
    transcript_id: uuid.UUID,
    task_id: uuid.UUID,
    media_id: uuid.UUID,
) -> None:
    """Rows for the transcript, inside the caller's transaction; a re-run of the task's stage replaces them."""
    await conn.execute(queries.delete_transcript_for_task, {"task_id": task_id})
    await conn.execute(
        queries.insert_transcript,
        {
            "id": transcript_id,
            "task_id": task_id,
            "media_id": media_id,
            "language": transcript.language,
            "language_probability": transcript.language_probability,
            "duration_s": transcript.duration,
            "engine": transcript.engine,
            "model": transcript.model,
        },
    )
    words = [
        {
            "transcript_id": transcript_id,
            "segment_idx": i,
            "start_s": w.start,
            "end_s": w.end,
            "word": w.word.strip(),
            "probability": w.probability,
            "speaker": w.speaker,
        }
        for i, s in enumerate(transcript.segments)
        for w in s.words
    ]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            queries.insert_speaker, [{"transcript_id": transcript_id, "label": s.label} for s in transcript.speakers]
        )
        voices = [s for s in transcript.speakers if s.embedding and transcript.embedding_model]
        await cursor.executemany(
            queries.voice_store_speaker_embedding,
            [
                {
                    "transcript_id": transcript_id,
                    "label": s.label,
                    "embedding": s.embedding,
                    "model": transcript.embedding_model,
                }
                for s in voices
            ],
        )
        await cursor.executemany(
            queries.insert_segment,
            [
                {
                    "transcript_id": transcript_id,
                    "idx": i,
                    "start_s": s.start,
                    "end_s": s.end,
                    "speaker": s.speaker,
                    "text": s.text.strip(),
                }
                for i, s in enumerate(transcript.segments)
            ],
        )
        await cursor.executemany(queries.insert_word, [{**w, "idx": i} for i, w in enumerate(words)])


async def read_transcript(conn: AsyncConnection[Any], transcript_id: uuid.UUID) -> Transcript | None:
    """The transcript as it stands now (users' text edits and speaker names included); None if it is gone."""
    params = {"transcript_id": transcript_id}
    header = await (await conn.execute(queries.transcript_by_id, params)).fetchone()
    if header is None:
        return None
    speakers = await (await conn.execute(queries.speakers_for_transcript, params)).fetchall()
    segment_rows = await (await conn.execute(queries.segments_for_transcript, params)).fetchall()
    word_rows = await (await conn.execute(queries.words_for_transcript, params)).fetchall()
    words_by_segment: dict[int, list[TranscriptWord]] = {}
    for w in word_rows:
        words_by_segment.setdefault(w["segment_idx"], []).append(
            TranscriptWord(
                start=w["start_s"], end=w["end_s"], word=w["word"], probability=w["probability"], speaker=w["speaker"]
            )
        )
    segments = [
        TranscriptSegment(
            start=s["start_s"],
            end=s["end_s"],
            text=s["text"],
            speaker=s["speaker"],
            words=words_by_segment.get(s["idx"], []),
        )
        for s in segment_rows
    ]
    return Transcript(
        segments=segments,
        language=header["language"] or "und",
        language_probability=header["language_probability"] or 0.0,
        duration=header["duration_s"] or 0.0,
        engine=header["engine"],
        model=header["model"],
        words=[w for s in segments for w in s.words],
        speakers=[SpeakerSummary(label=s["label"]) for s in speakers],
        speaker_names={s["label"]: s["display_name"] for s in speakers if s["display_name"]},
    )
