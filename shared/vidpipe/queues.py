"""SQS access: one aiobotocore client per process, queue URLs resolved once by name."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiobotocore.session import get_session

from vidpipe.messages import StageMessage, encode_message, stage_of
from vidpipe.settings import STAGES, AWSSettings, Settings, Stage

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient


@dataclass(frozen=True)
class QueueUrls:
    main: dict[Stage, str]
    dead_letter: dict[Stage, str]


async def resolve_queue_urls(sqs: SQSClient, settings: Settings) -> QueueUrls:
    main: dict[Stage, str] = {}
    dead: dict[Stage, str] = {}
    for stage in STAGES:
        main[stage] = (await sqs.get_queue_url(QueueName=settings.queue_name(stage)))["QueueUrl"]
        dead[stage] = (await sqs.get_queue_url(QueueName=settings.dlq_name(stage)))["QueueUrl"]
    return QueueUrls(main=main, dead_letter=dead)


async def send_stage_message(sqs: SQSClient, urls: QueueUrls, message: StageMessage) -> str:
    """Send a message to the queue of the stage it is addressed to; returns the SQS message id."""
    sent = await sqs.send_message(
        QueueUrl=urls.main[stage_of(message)],
        MessageBody=encode_message(message),
        MessageAttributes={"trace_id": {"DataType": "String", "StringValue": message.trace_id}},
    )
    return sent["MessageId"]


@contextlib.asynccontextmanager
async def open_sqs(settings: AWSSettings) -> AsyncIterator[SQSClient]:
    session = get_session()
    async with session.create_client("sqs", region_name=settings.region, endpoint_url=settings.endpoint_url) as sqs:
        yield sqs
