"""Hand a freshly written task to its first stage, the same way for uploads and re-runs."""

from __future__ import annotations

from typing import Any

import structlog
from litestar.datastructures import State

from vidpipe import taskstate
from vidpipe.db.queries import queries
from vidpipe.messages import StageMessage, stage_of
from vidpipe.queues import send_stage_message
from vidpipe_gateway.errors import ApiError

log = structlog.get_logger("vidpipe.gateway")

UNREACHABLE = "the processing queue could not be reached; try again"


async def queue_task(state: State, message: StageMessage, detail: dict[str, Any]) -> None:
    """Send the first message, then mark the task UPLOAD_COMPLETE with a `queued` event.

    If SQS cannot be reached the task is FAILED with the reason (never left PENDING for ever) and the
    client gets a 503 it can retry.
    """
    stage = stage_of(message)
    try:
        await send_stage_message(state.sqs, state.queues, message)
    except Exception as error:
        log.error("queue_send_failed", task_id=str(message.task_id), error=repr(error))
        await taskstate.fail_task(state.pool, message.task_id, None, code="queue_unavailable", message=UNREACHABLE)
        raise ApiError(503, "queue_unavailable", UNREACHABLE) from error
    async with state.pool.connection() as conn, conn.transaction():
        await conn.execute(queries.mark_task_queued, {"task_id": message.task_id, "stage": stage})
        await taskstate.insert_event(conn, message.task_id, stage, "queued", detail=detail)
    log.info("task_queued", task_id=str(message.task_id), media_id=str(message.media_id), trace_id=message.trace_id)
