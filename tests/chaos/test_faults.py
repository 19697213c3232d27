"""Faults while videos are in flight on the real embedded stack (smallest shipped models): nothing is lost,
nothing is done twice, every failure has a reason, no message is stranded, no process is orphaned.

The short form for CI: 3 videos per scenario; `python bench/chaos.py` runs the full campaign with more.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from .campaign import Campaign, Outcome, run_process_cli, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.timeout(1500)]

VIDEOS = 3


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    stack = start_stack(tmp_path_factory.mktemp("chaos") / "state", throwaway=True)
    campaign = Campaign(stack)
    try:
        yield campaign
    finally:
        stack.stop()
    assert campaign.orphans() == [], "processes outlived the stack"


def assert_clean(outcome: Outcome) -> None:
    assert outcome.lost == 0, outcome
    assert outcome.duplicated == 0, outcome
    assert outcome.failed_without_reason == 0, outcome
    assert outcome.stranded_messages == 0, outcome
    assert outcome.events_out_of_order == 0, outcome
    assert outcome.completed == outcome.tasks, outcome  # none of these faults is the video's fault


def test_workers_killed_or_stopped_mid_stage_and_a_postgres_restart_lose_nothing(campaign: Campaign) -> None:
    def inject(tasks: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        # kill -9 the transcriber mid-stage (an OOM kill), SIGTERM the summarizer mid-stage (a deploy),
        # then restart Postgres under everyone's feet
        assert campaign.wait_for_stage(tasks, "transcribe")
        campaign.signal_child("worker-transcribe", signal.SIGKILL)
        assert campaign.wait_for_stage(tasks, "summarize")
        campaign.signal_child("worker-summarize", signal.SIGTERM)
        campaign.stack.restart_postgres()  # type: ignore[union-attr]

    outcome = campaign.run("kill -9 transcribe, SIGTERM summarize, Postgres restart", inject, videos=VIDEOS)
    assert_clean(outcome)
    assert campaign.stack.supervisor is not None
    assert campaign.stack.supervisor.get("worker-transcribe").restarts >= 1
    assert campaign.stack.supervisor.get("worker-summarize").restarts >= 1


def test_the_sqs_server_frozen_for_a_while_only_delays_the_work(campaign: Campaign) -> None:
    def inject(tasks: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        assert campaign.wait_for_stage(tasks, "moderate", or_later=True)
        campaign.freeze("sqs", 15)
        campaign.freeze("s3", 15)

    assert_clean(campaign.run("SIGSTOP SQS 15 s, then S3 15 s", inject, videos=VIDEOS))


def test_duplicate_and_poison_messages_on_every_queue_change_nothing(campaign: Campaign) -> None:
    def inject(tasks: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        assert campaign.wait_for_stage(tasks, "moderate", or_later=True)
        campaign.duplicate_and_poison()

    assert_clean(campaign.run("duplicates x3 + poison bodies on every queue", inject, videos=VIDEOS))


def test_the_gateway_killed_while_vidpipe_process_polls_reconnects(campaign: Campaign) -> None:
    # Given `vidpipe process` following a task (its task started: the command is polling by then)
    with psycopg.connect(campaign.stack.env["DB_URL"]) as conn:
        before = conn.execute("SELECT count(*) FROM tasks WHERE status IN ('PROCESSING', 'COMPLETED')").fetchone()
    cli = run_process_cli(campaign.stack, campaign.token)  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with psycopg.connect(campaign.stack.env["DB_URL"]) as conn:
                started = conn.execute(
                    "SELECT count(*) FROM tasks WHERE status IN ('PROCESSING', 'COMPLETED')"
                ).fetchone()
            if started and before is not None and started[0] > before[0]:
                break
            campaign.tick(0.5)
        # When the gateway is killed (the supervisor brings it back)
        campaign.signal_child("gateway", signal.SIGKILL)
        while cli.poll() is None and time.monotonic() < deadline + 600:
            campaign.tick(0.5)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    # Then the command said it was reconnecting, and finished with the results
    assert cli.returncode == 0, err[-2000:]
    assert "reconnecting" in err, err[-2000:]
    assert "Summary:" in out and "Traceback" not in err
