"""Per-hop overhead and consumer throughput on the embedded stack (real PostgreSQL, moto SQS), trivial handlers.

    .venv/bin/python bench/core_consumer.py [--tasks 200] [--throughput-messages 300]

Per-hop overhead: time from a stage's completion commit (its `completed` event) to the next stage's handler
start (its `started` event), over moderate→transcribe and transcribe→summarize of every task. Throughput: a
no-op handler in one worker process draining a pre-filled queue. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from vidpipe.consumer import Consumer
from vidpipe.db.pool import open_pool
from vidpipe.localinfra import local_services
from vidpipe.logging import configure_logging
from vidpipe.messages import ModerateRequest, SummarizeRequest, TranscribeRequest, encode_message
from vidpipe.provision import provision
from vidpipe.queues import open_sqs, resolve_queue_urls
from vidpipe.settings import AWSSettings, DatabaseSettings, Settings, WorkerSettings
from vidpipe.stage import StageContext, StageOutcome, TaskStatus
from vidpipe.storage import open_storage
from vidpipe.testing import create_task_row

RESULTS = Path(__file__).parent / "results"


async def to_transcribe(m: ModerateRequest, ctx: StageContext) -> StageOutcome:
    return StageOutcome(
        next_message=TranscribeRequest(task_id=m.task_id, media_id=m.media_id, trace_id=m.trace_id, audio_key="a")
    )


async def to_summarize(m: TranscribeRequest, ctx: StageContext) -> StageOutcome:
    return StageOutcome(
        next_message=SummarizeRequest(
            task_id=m.task_id, media_id=m.media_id, trace_id=m.trace_id, transcript_id=uuid.uuid4()
        )
    )


async def finish(m: SummarizeRequest, ctx: StageContext) -> StageOutcome:
    return StageOutcome(final_status=TaskStatus.COMPLETED)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(settings: Settings, tasks: int, throughput_messages: int) -> dict[str, Any]:
    pool = await open_pool(settings.db)
    async with contextlib.AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(open_sqs(settings.aws))
        storage = await stack.enter_async_context(open_storage(settings.aws))
        queues = await resolve_queue_urls(sqs, settings)

        def consumer(stage: str, handler: Any) -> Consumer:
            return Consumer(
                stage=stage, handler=handler, settings=settings, pool=pool, storage=storage, sqs=sqs, queues=queues
            )  # type: ignore[arg-type]

        # --- per-hop overhead through three chained stages
        stop = asyncio.Event()
        chain = [
            consumer("moderate", to_transcribe),
            consumer("transcribe", to_summarize),
            consumer("summarize", finish),
        ]
        runners = [asyncio.create_task(c.run(stop)) for c in chain]
        ids = []
        for _ in range(tasks):
            task_id, media_id = await create_task_row(pool, subject="bench")
            ids.append(task_id)
            await sqs.send_message(
                QueueUrl=queues.main["moderate"],
                MessageBody=encode_message(
                    ModerateRequest(task_id=task_id, media_id=media_id, trace_id="bench", video_key="v")
                ),
            )
        started = time.monotonic()
        while chain[2].processed < tasks:  # noqa: ASYNC110 (polling a counter is the measurement)
            await asyncio.sleep(0.2)
        chain_s = time.monotonic() - started
        stop.set()
        await asyncio.gather(*runners)
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT task_id, stage::text AS stage, kind::text AS kind, created_at FROM task_events "
                    "WHERE kind IN ('started', 'completed')"
                )
            ).fetchall()
        at = {(r["task_id"], r["stage"], r["kind"]): r["created_at"] for r in rows}
        hops = [
            (at[(t, nxt, "started")] - at[(t, prev, "completed")]).total_seconds() * 1000
            for t in ids
            for prev, nxt in (("moderate", "transcribe"), ("transcribe", "summarize"))
        ]

        # --- throughput of one consumer with a no-op handler
        settings_tp = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"concurrency": 10, "prefetch": 10})}
        )
        bodies = []
        for _ in range(throughput_messages):
            task_id, media_id = await create_task_row(pool, subject="bench")
            bodies.append(
                encode_message(ModerateRequest(task_id=task_id, media_id=media_id, trace_id="t", video_key="v"))
            )
        for i in range(0, len(bodies), 10):
            await sqs.send_message_batch(
                QueueUrl=queues.main["moderate"],
                Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[i : i + 10])],
            )
        tp = Consumer(
            stage="moderate",
            handler=to_transcribe,
            settings=settings_tp,
            pool=pool,
            storage=storage,
            sqs=sqs,
            queues=queues,
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(tp.run(stop))
        t0 = time.monotonic()
        while tp.processed < throughput_messages:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        throughput_s = time.monotonic() - t0
        stop.set()
        await runner
    await pool.close()
    return {
        "tasks": tasks,
        "hops": len(hops),
        "hop_overhead_ms": {"median": statistics.median(hops), "p95": percentile(hops, 0.95), "max": max(hops)},
        "chain_wall_s": chain_s,
        "throughput": {
            "messages": throughput_messages,
            "seconds": throughput_s,
            "messages_per_s": throughput_messages / throughput_s,
            "concurrency": 10,
        },
        "wait_time_s": settings.worker.wait_time_s,
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--throughput-messages", type=int, default=300)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    with local_services("bench") as (url, moto):
        settings = Settings(
            db=DatabaseSettings(url=url, pool_max_size=10),
            aws=AWSSettings(endpoint_url=moto.url, bucket="bench", queue_prefix="bench-"),
            worker=WorkerSettings(wait_time_s=1, visibility_timeout_s=60),
        )
        provision(settings)
        result = asyncio.run(run(settings, args.tasks, args.throughput_messages))
    hop = result["hop_overhead_ms"]
    print(f"per-hop overhead over {result['hops']} hops: median {hop['median']:.1f} ms, p95 {hop['p95']:.1f} ms")
    tp = result["throughput"]
    print(
        f"no-op consumer throughput: {tp['messages_per_s']:.1f} messages/s ({tp['messages']} in {tp['seconds']:.1f} s)"
    )
    print(f"load average during the run: {result['loadavg']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "core_consumer.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
