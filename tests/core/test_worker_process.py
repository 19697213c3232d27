"""Real worker processes: a killed worker's job is taken over, SIGTERM lets the running job finish."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from vidpipe.settings import Settings
from vidpipe.testing import task_events, task_row

from ..harness import Harness, wait_until


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DB_URL": settings.db.url.get_secret_value(),
        "AWS_ENDPOINT_URL": settings.aws.endpoint_url or "",
        "AWS_BUCKET": settings.aws.bucket,
        "AWS_QUEUE_PREFIX": settings.aws.queue_prefix,
        "WORKER_WAIT_TIME_S": "1",
        "VIDPIPE_LOG_FORMAT": "json",
        **extra,
    }


async def start_worker(settings: Settings, **extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vidpipe.cli",
        "worker",
        "moderate",
        "--handler",
        "vidpipe.testing:sleepy_handler",
        env=worker_env(settings, **extra),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def kinds(harness: Harness, task_id: Any) -> list[tuple[str, int]]:
    return [(e["kind"], e["attempt"]) for e in await task_events(harness.pool, task_id)]


async def test_a_killed_workers_job_is_taken_over_after_its_claim_goes_stale(
    harness: Harness, settings: Settings
) -> None:
    # Given a worker in the middle of a long job, with a short visibility timeout kept alive by its heartbeat
    short = {"WORKER_VISIBILITY_TIMEOUT_S": "5", "WORKER_HEARTBEAT_INTERVAL_S": "1"}
    doomed = await start_worker(settings, VIDPIPE_TEST_SLEEP_S="600", **short)
    message = await harness.new_task()
    await harness.send(message)
    await wait_until(lambda: kinds(harness, message.task_id), timeout_s=60)

    # When it is killed outright (OOM, spot reclaim without notice)
    doomed.kill()
    await doomed.wait()
    rescuer = await start_worker(settings, VIDPIPE_TEST_SLEEP_S="0", **short)
    try:
        # Then, once the visibility timeout lapses, another worker claims the stale stage and completes it
        async def done() -> bool:
            return ("completed", 2) in await kinds(harness, message.task_id)

        await wait_until(done, timeout_s=60)
    finally:
        rescuer.terminate()
        await rescuer.wait()
    assert await kinds(harness, message.task_id) == [("started", 1), ("started", 2), ("completed", 2)]
    assert (await task_row(harness.pool, message.task_id))["current_stage"] == "transcribe"
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1


async def test_sigterm_lets_the_running_job_finish_and_the_process_exit_cleanly(
    harness: Harness, settings: Settings
) -> None:
    worker = await start_worker(settings, VIDPIPE_TEST_SLEEP_S="3")
    message = await harness.new_task()
    await harness.send(message)
    await wait_until(lambda: kinds(harness, message.task_id), timeout_s=60)

    worker.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(worker.wait(), timeout=30)

    assert code == 0, (await worker.stderr.read()).decode()[-2000:] if worker.stderr else ""
    assert await kinds(harness, message.task_id) == [("started", 1), ("completed", 1)]
    assert await harness.queue_depth(harness.queues.main["moderate"]) == (0, 0)
    assert len(await harness.drain(harness.queues.main["transcribe"])) == 1
