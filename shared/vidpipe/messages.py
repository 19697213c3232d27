"""Messages between stages: one tagged, frozen Struct per hop, JSON on SQS.

Messages carry ids and object keys, never payloads. Schema evolution rule: a field added later always has a
default and no field ever changes type, so an old worker can read a new message and vice versa. The tag
(`kind`) names the hop; `v` lets a consumer tell an old shape from a new one if that is ever needed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, cast

import msgspec

from vidpipe.settings import Stage

SpeakerCount = Annotated[int, msgspec.Meta(ge=1, le=32)]


class JobOptions(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Hints the user gave at start-processing time; they ride along every hop."""

    language: str | None = None
    min_speakers: SpeakerCount | None = None
    max_speakers: SpeakerCount | None = None
    hotwords: str | None = None


class _StageMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    v: int = 1
    task_id: uuid.UUID
    media_id: uuid.UUID
    trace_id: str
    options: JobOptions = JobOptions()


class ModerateRequest(_StageMessage, frozen=True, kw_only=True, tag="moderate"):
    """Gateway → moderator: the uploaded video is at `video_key`."""

    video_key: str


class TranscribeRequest(_StageMessage, frozen=True, kw_only=True, tag="transcribe"):
    """Moderator → transcriber: 16 kHz mono audio extracted from the video is at `audio_key`."""

    audio_key: str


class SummarizeRequest(_StageMessage, frozen=True, kw_only=True, tag="summarize"):
    """Transcriber → summarizer (or the gateway on a re-run): the transcript is in Postgres."""

    transcript_id: uuid.UUID


StageMessage = ModerateRequest | TranscribeRequest | SummarizeRequest

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StageMessage)


class _Envelope(msgspec.Struct):
    """Just enough of a message to find its task when the full decode fails."""

    task_id: uuid.UUID | None = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)


def encode_message(message: StageMessage) -> str:
    return _encoder.encode(message).decode()


def decode_message(body: str | bytes) -> StageMessage:
    """Decode an SQS body; raises msgspec.ValidationError / DecodeError for a poison message."""
    message: StageMessage = _decoder.decode(body)
    return message


def salvage_task_id(body: str | bytes) -> uuid.UUID | None:
    """Best-effort task id from a body that failed to decode, so the task can still be failed visibly."""
    try:
        return _envelope_decoder.decode(body).task_id
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def stage_of(message: StageMessage) -> Stage:
    """The stage a message is addressed to: each hop's tag is its stage's name."""
    return cast(Stage, type(message).__struct_config__.tag)
