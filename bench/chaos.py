"""The fault campaign: one fault at a time while videos are in flight on the real embedded stack.

    .venv/bin/python bench/chaos.py [--videos 6] [--only kill9-transcribe,pg-restart] [--freeze-s 30]

Each scenario submits `--videos` copies of the bundled sample (smallest shipped models), injects its fault
once the targeted stage is running, waits until every task is terminal, and counts: completed, failed with
a reason, lost (not terminal, or a completed task missing a result), duplicated (a stage committed twice or
a second result row), messages stranded on a queue, and recovery seconds (fault → every task terminal).
`kill9-dev` kills `vidpipe dev` itself and starts it again; the others share one stack. Prints the table and
writes bench/results/chaos.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.chaos.campaign import Campaign, Outcome, start_stack  # noqa: E402
from tests.chaos.test_restart import DevProcess, gone_within  # noqa: E402

RESULTS = Path(__file__).parent / "results"
Tasks = list[tuple[uuid.UUID, uuid.UUID]]


def scenarios(campaign: Campaign, freeze_s: float) -> dict[str, tuple[str, Callable[[Tasks], None]]]:
    def hit(stage: str, child: str, sig: int) -> Callable[[Tasks], None]:
        def inject(tasks: Tasks) -> None:
            if not campaign.wait_for_stage(tasks, stage):
                raise RuntimeError(f"no task reached {stage}")
            campaign.signal_child(child, sig)

        return inject

    def pg_restart(tasks: Tasks) -> None:
        campaign.wait_for_stage(tasks, "transcribe")
        campaign.stack.restart_postgres()  # type: ignore[union-attr]

    def dup_poison(tasks: Tasks) -> None:
        campaign.wait_for_stage(tasks, "moderate", or_later=True)
        campaign.duplicate_and_poison()

    def freeze(child: str) -> Callable[[Tasks], None]:
        def inject(tasks: Tasks) -> None:
            campaign.wait_for_stage(tasks, "moderate", or_later=True)
            campaign.freeze(child, freeze_s)

        return inject

    found: dict[str, tuple[str, Callable[[Tasks], None]]] = {}
    for stage in ("moderate", "transcribe", "summarize"):
        found[f"kill9-{stage}"] = (f"kill -9 {stage} worker mid-stage", hit(stage, f"worker-{stage}", signal.SIGKILL))
        found[f"sigterm-{stage}"] = (f"SIGTERM {stage} worker mid-stage", hit(stage, f"worker-{stage}", signal.SIGTERM))
    found["pg-restart"] = ("Postgres restart mid-run", pg_restart)
    found["freeze-sqs"] = (f"SIGSTOP SQS server {freeze_s:.0f} s", freeze("sqs"))
    found["freeze-s3"] = (f"SIGSTOP S3 server {freeze_s:.0f} s", freeze("s3"))
    found["duplicates-poison"] = ("duplicates x3 + poison bodies on every queue", dup_poison)
    found["kill9-gateway"] = ("kill -9 gateway while clients poll", hit("moderate", "gateway", signal.SIGKILL))
    return found


def kill9_dev(videos: int, root: Path) -> Outcome:
    dev = DevProcess(root / "dev-state", root / "dev.log")
    try:
        campaign = Campaign(dev.start(), subject="chaos-dev")
        tasks = campaign.submit(videos)
        campaign.wait_for_stage(tasks, "transcribe")
        children = dev.children()
        dev.stop(signal.SIGKILL)
        faulted_at = time.monotonic()
        survivors = gone_within(children, 15)
        campaign = Campaign(dev.start(), subject="chaos-dev")
        statuses = campaign.wait_terminal(tasks, timeout_s=1200)
        outcome = Outcome(
            fault="kill -9 vidpipe dev, start again",
            tasks=len(tasks),
            recovery_s=round(time.monotonic() - faulted_at, 1),
        )
        campaign.verify(tasks, statuses, outcome)
        if survivors:
            outcome.notes.append(f"{len(survivors)} children outlived vidpipe dev")
        return outcome
    finally:
        children = dev.children()
        dev.stop()
        if gone_within(children, 15):
            print("warning: processes outlived the second vidpipe dev", file=sys.stderr)
        dev.state.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6, help="videos in flight per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenario keys (default: all)")
    parser.add_argument("--freeze-s", type=float, default=30.0, help="how long SIGSTOP holds a server")
    args = parser.parse_args()
    chosen = [k for k in args.only.split(",") if k]
    outcomes: list[Outcome] = []
    root = Path(tempfile.mkdtemp(prefix="vidpipe-chaos-"))
    stack = start_stack(root / "state", throwaway=True)
    campaign = Campaign(stack)
    orphans: list[str] = []
    try:
        for key, (fault, inject) in scenarios(campaign, args.freeze_s).items():
            if chosen and key not in chosen:
                continue
            print(f"== {fault}", file=sys.stderr, flush=True)
            outcome = campaign.run(fault, inject, videos=args.videos)
            print(f"   {outcome.row()}", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    finally:
        stack.stop()
        orphans = campaign.orphans()
    if not chosen or "kill9-dev" in chosen:
        print("== kill -9 vidpipe dev", file=sys.stderr, flush=True)
        outcomes.append(kill9_dev(args.videos, root))
    shutil.rmtree(root, ignore_errors=True)

    header = ("fault", "tasks", "completed", "failed with reason", "lost", "duplicated", "recovery s")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for o in outcomes:
        failed = f"{o.failed_with_reason}" + (
            f" (+{o.failed_without_reason} without)" if o.failed_without_reason else ""
        )
        lost = f"{o.lost}" + (f" (+{o.stranded_messages} stranded msgs)" if o.stranded_messages else "")
        print(f"{o.fault} | {o.tasks} | {o.completed} | {failed} | {lost} | {o.duplicated} | {o.recovery_s}")
    print(f"orphan processes after the stack stopped: {len(orphans)}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chaos.json").write_text(
        json.dumps({"videos": args.videos, "outcomes": [o.row() for o in outcomes], "orphans": orphans}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
