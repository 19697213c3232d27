"""Failure classes every stage raises, and how the consumer loop treats them.

Two kinds only: a permanent failure is the input's fault and retrying cannot help, so
the task fails at once with a readable reason; a retryable failure is the world's fault (network, database, memory)
and the message comes back after a back-off until the queue's redrive policy gives up.
"""

from __future__ import annotations


class StageError(Exception):
    """A failure with a stable machine code and a message a user can read in the task status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PermanentError(StageError):
    """Bad input (undecodable video, empty upload, missing object...): fail the task, never retry."""


class RetryableError(StageError):
    """Transient trouble (endpoint down, timeout, throttling): back off and try again."""
