"""The one transcript model round-trips through its Postgres rows, users' edits included."""

from __future__ import annotations

import uuid

from vidpipe.transcript import (
    SpeakerSummary,
    Transcript,
    TranscriptSegment,
    TranscriptWord,
    read_transcript,
    save_transcript,
)

from ..harness import Harness


def sample() -> Transcript:
    hello = [
        TranscriptWord(start=0.0, end=0.4, word=" Hello", probability=0.9, speaker="SPEAKER_00"),
        TranscriptWord(start=0.4, end=0.9, word=" there.", probability=0.8, speaker="SPEAKER_00"),
    ]
    reply = [TranscriptWord(start=1.2, end=1.6, word=" Hi!", probability=0.95, speaker="SPEAKER_01")]
    return Transcript(
        segments=[
            TranscriptSegment(start=0.0, end=0.9, text=" Hello there.", speaker="SPEAKER_00", words=hello),
            TranscriptSegment(start=1.2, end=1.6, text=" Hi!", speaker="SPEAKER_01", words=reply),
        ],
        language="en",
        language_probability=0.97,
        duration=2.0,
        engine="local",
        model="base",
        words=[*hello, *reply],
        speakers=[SpeakerSummary(label="SPEAKER_00"), SpeakerSummary(label="SPEAKER_01")],
    )


async def test_a_saved_transcript_reads_back_with_words_speakers_and_later_names(harness: Harness) -> None:
    message = await harness.new_task()
    transcript_id = uuid.uuid4()
    async with harness.pool.connection() as conn, conn.transaction():
        await save_transcript(
            conn, sample(), transcript_id=transcript_id, task_id=message.task_id, media_id=message.media_id
        )
    async with harness.pool.connection() as conn:
        await conn.execute(
            "UPDATE transcript_speakers SET display_name = 'Alice' WHERE transcript_id = %s AND label = 'SPEAKER_00'",
            (transcript_id,),
        )
        back = await read_transcript(conn, transcript_id)
        missing = await read_transcript(conn, uuid.uuid4())
    assert missing is None
    assert back is not None
    assert [(s.speaker, s.text, [w.word for w in s.words]) for s in back.segments] == [
        ("SPEAKER_00", "Hello there.", ["Hello", "there."]),
        ("SPEAKER_01", "Hi!", ["Hi!"]),
    ]
    assert (back.language, back.duration, back.engine, back.model) == ("en", 2.0, "local", "base")
    assert back.speaker_names == {"SPEAKER_00": "Alice"}
    assert back.speaker_display_name("SPEAKER_00") == "Alice"
    assert back.speaker_display_name("SPEAKER_01") == "SPEAKER_01"
    assert len(back.words) == 3


async def test_saving_again_for_the_same_task_replaces_the_rows(harness: Harness) -> None:
    message = await harness.new_task()
    async with harness.pool.connection() as conn, conn.transaction():
        for _ in range(2):
            await save_transcript(
                conn, sample(), transcript_id=uuid.uuid4(), task_id=message.task_id, media_id=message.media_id
            )
    async with harness.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM transcripts WHERE task_id = %s", (message.task_id,))
        ).fetchone()
    assert row is not None and row["n"] == 1
