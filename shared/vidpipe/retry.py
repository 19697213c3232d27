"""When a retryable failure comes back, and when the platform gives up on it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vidpipe.settings import WorkerSettings

SQS_MAX_VISIBILITY_S = 43200


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off through the message's visibility; give up on the queue's last delivery.

    `max_receive_count` must match the queue's redrive policy: on that delivery the task is failed with the
    reason, and SQS moves the message to the dead-letter queue when it next comes up.
    """

    max_receive_count: int
    base_delay_s: float
    max_delay_s: float

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> RetryPolicy:
        return cls(worker.max_receive_count, worker.retry_base_delay_s, worker.retry_max_delay_s)

    def gives_up(self, receive_count: int) -> bool:
        return receive_count >= self.max_receive_count

    def delay_s(self, receive_count: int) -> int:
        """Back-off before the next delivery: exponential, jittered over the upper half, whole seconds."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** max(receive_count - 1, 0))
        jittered = random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)
        return int(min(SQS_MAX_VISIBILITY_S, max(0, round(jittered))))
