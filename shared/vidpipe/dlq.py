"""`vidpipe dlq list|redrive`: what is in each stage's dead-letter queue, and sending it back.

A redrive sends each readable dead letter back to its stage's queue and deletes it from the DLQ. A task that
failed only because its stage was abandoned (`dead_lettered`, `retries_exhausted`) is reopened, so the stage
runs again; a task that failed for its input, or finished, stays as it is and the message is dropped by the
worker. Unreadable bodies are never redriven: they stay for a person to read.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from vidpipe.db.queries import queries
from vidpipe.messages import decode_message, salvage_task_id
from vidpipe.settings import STAGES, Settings, Stage, load_settings

if TYPE_CHECKING:
    from vidpipe.deliveries import Delivery, SqsStageQueues

PAGE_VISIBILITY_S = 30  # hides a page while it is read, so the next receive returns the next page


@dataclass(frozen=True)
class DeadLetterRow:
    stage: Stage
    message_id: str
    task_id: uuid.UUID | None
    receive_count: int
    unreadable_reason: str | None
    outcome: str | None  # what the worker's watcher did with it, if it looked


@dataclass(frozen=True)
class RedriveResult:
    redriven: int
    reopened_tasks: int
    skipped_unreadable: int


async def _page_all(queues: SqsStageQueues) -> list[Delivery]:
    seen: dict[str, Delivery] = {}
    while True:
        page = await queues.receive_dead_letters(10, visibility_s=PAGE_VISIBILITY_S)
        fresh = [d for d in page if d.message_id not in seen]
        if not fresh:
            return list(seen.values())
        seen.update((d.message_id, d) for d in fresh)


async def _show_again(queues: SqsStageQueues, letter: Delivery) -> None:
    """A look must not hide a dead letter from the depth alarm."""
    await queues.sqs.change_message_visibility(
        QueueUrl=queues.dead_letter_url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
    )


async def list_dead_letters(settings: Settings, stages: tuple[Stage, ...] = STAGES) -> list[DeadLetterRow]:
    from vidpipe.db.pool import open_pool
    from vidpipe.deliveries import SqsStageQueues
    from vidpipe.queues import open_sqs, resolve_queue_urls

    rows: list[DeadLetterRow] = []
    pool = await open_pool(settings.db, name="dlq")
    try:
        async with open_sqs(settings.aws) as sqs:
            urls = await resolve_queue_urls(sqs, settings)
            for stage in stages:
                queues = SqsStageQueues(sqs, urls, stage)
                letters = await _page_all(queues)
                async with pool.connection() as conn:
                    cursor = await conn.execute(queries.dead_letters_for_stage, {"stage": stage})
                    known = {r["message_id"]: r["outcome"] for r in await cursor.fetchall()}
                for letter in letters:
                    await _show_again(queues, letter)
                    rows.append(
                        DeadLetterRow(
                            stage,
                            letter.message_id,
                            salvage_task_id(letter.body),
                            letter.receive_count,
                            letter.copied_with_error,
                            known.get(letter.message_id),
                        )
                    )
    finally:
        await pool.close()
    return rows


async def redrive(settings: Settings, stage: Stage) -> RedriveResult:
    from vidpipe.db.pool import open_pool
    from vidpipe.deliveries import SqsStageQueues
    from vidpipe.queues import open_sqs, resolve_queue_urls
    from vidpipe.taskstate import insert_event

    redriven = reopened = skipped = 0
    pool = await open_pool(settings.db, name="dlq")
    try:
        async with open_sqs(settings.aws) as sqs:
            queues = SqsStageQueues(sqs, await resolve_queue_urls(sqs, settings), stage)
            for letter in await _page_all(queues):
                try:
                    message = decode_message(letter.body)
                except (msgspec.ValidationError, msgspec.DecodeError):
                    skipped += 1
                    await _show_again(queues, letter)
                    continue
                async with pool.connection() as conn, conn.transaction():
                    params: dict[str, Any] = {"task_id": message.task_id, "stage": stage}
                    if await (await conn.execute(queries.reopen_failed_stage, params)).fetchone() is not None:
                        await conn.execute(queries.retry_failed_stage_run, params)
                        detail = {"code": "redriven", "message": "an operator sent the stage's message back"}
                        await insert_event(conn, message.task_id, stage, "retried", detail=detail)
                        reopened += 1
                    await conn.execute(queries.mark_dead_letter_redriven, {"message_id": letter.message_id})
                await queues.send(message)
                await sqs.delete_message(QueueUrl=queues.dead_letter_url, ReceiptHandle=letter.receipt_handle)
                redriven += 1
    finally:
        await pool.close()
    return RedriveResult(redriven, reopened, skipped)


dlq_app = typer.Typer(help="Dead-letter queues: list what is there, send it back.", no_args_is_help=True)


def _stage(value: str | None) -> tuple[Stage, ...]:
    if value is None:
        return STAGES
    if value not in STAGES:
        raise typer.BadParameter(f"unknown stage {value!r}; expected one of {', '.join(STAGES)}")
    return (value,)


@dlq_app.command("list")
def list_command(
    stage: Annotated[str | None, typer.Option(help="only this stage's DLQ")] = None,
) -> None:
    """List dead letters per stage: message id, task, receives, and what the workers did with it."""
    rows = asyncio.run(list_dead_letters(load_settings(), _stage(stage)))
    if not rows:
        typer.echo("no dead letters")
        return
    for row in rows:
        typer.echo(
            f"{row.stage}\t{row.message_id}\ttask={row.task_id or '-'}\treceives={row.receive_count}\t"
            f"{'unreadable: ' + row.unreadable_reason if row.unreadable_reason else (row.outcome or 'not seen yet')}"
        )


@dlq_app.command("redrive")
def redrive_command(
    stage: Annotated[str, typer.Argument(help=f"one of {', '.join(STAGES)}")],
) -> None:
    """Send a stage's readable dead letters back to its queue, reopening tasks that failed only for that."""
    (chosen,) = _stage(stage)
    result = asyncio.run(redrive(load_settings(), chosen))
    typer.echo(
        f"redriven {result.redriven} message(s), reopened {result.reopened_tasks} task(s); "
        f"left {result.skipped_unreadable} unreadable one(s) in the DLQ"
    )
