"""Dead letters: the consumer plug-in that notices them, and the operator's list and redrive.

SQS moves a message to the stage's DLQ by itself when a worker died on its last delivery (OOM, spot
reclaim); the handler never saw that failure. `DeadLetterWatcher` looks into the DLQ and fails such a task
with a reason — only when its stage was really abandoned (see `TaskStore.fail_abandoned`). Each dead letter
is acted on once (recorded in Postgres) and stays visible in the DLQ, so the depth alarm fires and an
operator can redrive it with `vidpipe dlq redrive`.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from vidpipe.deliveries import StageQueues
from vidpipe.messages import salvage_task_id
from vidpipe.settings import Stage
from vidpipe.taskstore import AbandonedBy, TaskStore

log = structlog.get_logger("vidpipe.deadletters")

# A look hides what it read only briefly: long enough to page past the first batch, short enough that the
# DLQ depth alarm (visible messages) still sees them.
LOOK_VISIBILITY_S = 5
PAGES_PER_LOOK = 5


class DeadLetterWatcher:
    def __init__(
        self, *, stage: Stage, queues: StageQueues, store: TaskStore, every_s: float, stale_after_s: float
    ) -> None:
        self.stage = stage
        self.queues = queues
        self.store = store
        self.every_s = every_s
        self.stale_after_s = stale_after_s

    async def run(self, stop: asyncio.Event) -> None:
        if not self.every_s:
            return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)
            if stop.is_set():
                return
            try:
                await self.look_once()
            except Exception as error:
                log.warning("dead_letter_check_failed", error=repr(error))

    async def look_once(self) -> int:
        """Act on the dead letters not seen before; returns how many tasks were failed."""
        failed = 0
        for _ in range(PAGES_PER_LOOK):
            letters = await self.queues.receive_dead_letters(10, visibility_s=LOOK_VISIBILITY_S)
            if not letters:
                break
            for letter in letters:
                task_id = salvage_task_id(letter.body)
                if letter.copied_with_error is not None:
                    outcome, reason = "unreadable", letter.copied_with_error
                elif task_id is not None and await self.store.fail_abandoned(
                    task_id,
                    self.stage,
                    by=AbandonedBy.DEAD_LETTER,
                    code="dead_lettered",
                    message=f"the {self.stage} stage never finished: its worker stopped (crashed, ran out of "
                    "memory or was reclaimed) on every delivery",
                    stale_after_s=self.stale_after_s,
                ):
                    outcome, reason = "task_failed", "stage abandoned"
                    failed += 1
                    log.error("dead_lettered_task_failed", task_id=str(task_id))
                else:
                    outcome, reason = "left_alone", "the stage is live, completed or already failed"
                await self.store.record_dead_letter(
                    letter.message_id, self.stage, task_id, outcome=outcome, reason=reason, body=letter.body
                )
        return failed
