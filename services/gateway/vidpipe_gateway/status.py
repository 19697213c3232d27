"""A task's user-facing status, computed from tasks, stage_runs and the latest progress events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from vidpipe.db.queries import queries
from vidpipe.settings import STAGES
from vidpipe_gateway.failures import explain
from vidpipe_gateway.schemas import ErrorBody, StageStatus, TaskStatusResponse

# Share of the whole job each stage takes, for one progress bar (transcription dominates on every engine).
STAGE_WEIGHTS = {"moderate": 0.15, "transcribe": 0.6, "summarize": 0.25}
# Below 5 % the rate is mostly start-up cost (model load, first download); above 99 % the stage is finishing.
ETA_MIN_PROGRESS = 0.05
ETA_MAX_PROGRESS = 0.99
ENDED = frozenset({"FAILED", "REJECTED"})


def eta_seconds(started_at: datetime | None, progress: float, now: datetime) -> float | None:
    """Seconds left if the stage keeps its pace so far, or None where the guess would mislead."""
    if started_at is None or not ETA_MIN_PROGRESS <= progress <= ETA_MAX_PROGRESS:
        return None
    elapsed = (now - started_at).total_seconds()
    if elapsed <= 0:
        return None
    return round(elapsed * (1 - progress) / progress, 1)


async def task_status(conn: AsyncConnection[Any], task: dict[str, Any]) -> TaskStatusResponse:
    task_id: uuid.UUID = task["id"]
    runs = {
        r["stage"]: r for r in await (await conn.execute(queries.stage_runs_for_task, {"task_id": task_id})).fetchall()
    }
    latest = {
        r["stage"]: r
        for r in await (await conn.execute(queries.latest_progress_for_task, {"task_id": task_id})).fetchall()
    }
    first = STAGES.index(task["first_stage"])
    stages: list[StageStatus] = []
    overall = 0.0
    now = datetime.now(UTC)
    for stage in STAGES[first:]:
        run = runs.get(stage)
        if run is None:
            # After a failure nothing more runs: "waiting" would promise work that will never happen.
            stages.append(
                StageStatus(
                    stage=stage, state="skipped" if task["status"] in ENDED else "waiting", attempts=0, progress=0.0
                )
            )
            continue
        state = run["state"]
        progress = 1.0 if state == "completed" else float(latest[stage]["progress"]) if stage in latest else 0.0
        seconds = (run["finished_at"] - run["started_at"]).total_seconds() if run["finished_at"] is not None else None
        detail = latest[stage]["detail"].get("detail") if stage in latest else None
        stages.append(
            StageStatus(
                stage=stage,
                state=state,
                attempts=run["attempt"],
                progress=round(progress, 4),
                started_at=run["started_at"],
                finished_at=run["finished_at"],
                seconds=seconds,
                detail=detail,
                eta_s=eta_seconds(run["started_at"], progress, now) if state == "running" else None,
            )
        )
        overall += STAGE_WEIGHTS[stage] * progress
    total_weight = sum(STAGE_WEIGHTS[s] for s in STAGES[first:])
    percent = 100.0 if task["status"] == "COMPLETED" else round(100 * overall / total_weight, 1)
    error = (
        ErrorBody(code=task["error_code"], message=task["error_message"] or task["error_code"])
        if task["error_code"]
        else None
    )
    return TaskStatusResponse(
        task_id=task_id,
        media_id=task["media_id"],
        status=task["status"],
        current_stage=task["current_stage"],
        progress_percent=percent,
        stages=stages,
        flagged=task["flagged"],
        error=error,
        created_at=task["created_at"],
        updated_at=task["updated_at"],
        finished_at=task["finished_at"],
        reason=explain(task["error_code"], task["error_message"]) if task["status"] in ENDED else None,
    )
