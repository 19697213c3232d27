"""Scale-in protection for workers in an Auto Scaling group (terraform/ scales each stage on its backlog).

A busy instance protects itself from scale-in before it runs a job, and drops the protection once it has been
idle for a while, so target tracking only ever removes idle instances. Calls that fail are logged and tried
again at the next transition; they never fail a job. Outside an Auto Scaling group (compose, the embedded
stack) nothing is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import structlog
from aiobotocore.session import get_session

from vidpipe.settings import AWSSettings, WorkerSettings

log = structlog.get_logger("vidpipe.scaling")


class ScaleInGuard(Protocol):
    async def set_protected(self, protected: bool) -> None: ...


class NoScaleInGuard:
    """Not in an Auto Scaling group: nothing to protect."""

    async def set_protected(self, protected: bool) -> None:
        return None


class AutoScalingGuard:
    def __init__(self, client: Any, group: str, instance_id: str) -> None:
        self._client = client
        self._group = group
        self._instance_id = instance_id
        self.protected: bool | None = None  # unknown until the first call succeeds

    async def set_protected(self, protected: bool) -> None:
        if self.protected is protected:
            return
        try:
            await self._client.set_instance_protection(
                AutoScalingGroupName=self._group, InstanceIds=[self._instance_id], ProtectedFromScaleIn=protected
            )
        except Exception as error:
            log.warning("scale_in_protection_failed", protected=protected, error=repr(error))
            return
        self.protected = protected
        log.info("scale_in_protection", protected=protected, group=self._group)


@contextlib.asynccontextmanager
async def open_scale_in_guard(worker: WorkerSettings, aws: AWSSettings) -> AsyncIterator[ScaleInGuard]:
    if not (worker.autoscaling_group and worker.instance_id):
        yield NoScaleInGuard()
        return
    session = get_session()
    async with session.create_client("autoscaling", region_name=aws.region, endpoint_url=aws.endpoint_url) as client:
        guard = AutoScalingGuard(client, worker.autoscaling_group, worker.instance_id)
        try:
            yield guard
        finally:
            await guard.set_protected(False)


class ScaleInProtection:
    """Consumer plug-in: protect the instance before a job starts; drop it once idle for `idle_after_s`."""

    def __init__(self, guard: ScaleInGuard, *, idle_after_s: float, is_busy: Callable[[], bool]) -> None:
        self.guard = guard
        self.idle_after_s = idle_after_s
        self.is_busy = is_busy
        self._idle_since = time.monotonic()

    async def job_started(self) -> None:
        self._idle_since = time.monotonic()
        await self.guard.set_protected(True)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if self.is_busy():
                    self._idle_since = time.monotonic()
                elif time.monotonic() - self._idle_since >= self.idle_after_s:
                    await self.guard.set_protected(False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(5.0, max(self.idle_after_s / 3, 0.1)))
        finally:
            await self.guard.set_protected(False)
