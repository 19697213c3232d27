"""Fault campaign on the real embedded stack, shared by tests/chaos and bench/chaos.py.

A scenario submits N videos through the gateway (as the browser does: presigned upload, start), injects one
fault while they are in flight, waits until every task is terminal (or a deadline), then checks what a user
and an operator would check: each completed media has exactly one moderation result, transcript and
summary, each stage committed its work once, every failure has a reason, no message is left on a queue, and
no process outlives the stack.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg

from vidpipe.client import guess_content_type, upload
from vidpipe.devstack import DevStack
from vidpipe.settings import AuthSettings
from vidpipe.supervisor import cmdline, pid_alive

from ..harness import assert_events_in_order

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "jfk-demo.mp4"
TERMINAL = {"COMPLETED", "FAILED", "REJECTED"}

# The smallest shipped models (as tests/e2e) and short timeouts, so a killed worker's message comes back in
# seconds rather than minutes.
STACK_ENV = {
    "TRANSCRIBER_MODEL": "tiny.en",
    "SUMMARIZER_LOCAL_MODEL": "SmolLM2-135M-Instruct-Q4_1",
    "WORKER_VISIBILITY_TIMEOUT_S": "15",
    "WORKER_WAIT_TIME_S": "1",
    "WORKER_RETRY_BASE_DELAY_S": "1",
    "WORKER_RETRY_MAX_DELAY_S": "5",
    "WORKER_SHUTDOWN_GRACE_S": "60",
    "VIDPIPE_LOG_FORMAT": "json",
    # One user submits every scenario's videos: the per-user limits (3 live tasks, 50 uploads a day) would
    # hold the videos back in a queue of our own instead of putting them all in flight, and the full
    # campaign submits more than 50. The limits have their own tests (tests/security); 0 turns them off.
    "GATEWAY_MAX_LIVE_TASKS_PER_USER": "0",
    "GATEWAY_DAILY_UPLOADS": "0",
    "GATEWAY_WRITE_REQUESTS_PER_MINUTE": "0",
}


@dataclass
class Outcome:
    fault: str
    tasks: int
    completed: int = 0
    failed_with_reason: int = 0
    failed_without_reason: int = 0
    lost: int = 0  # not terminal by the deadline
    duplicated: int = 0  # a stage that committed its work more than once, or a second result row
    stranded_messages: int = 0
    events_out_of_order: int = 0  # tasks whose events do not read queued < started < progress* < completed
    recovery_s: float = 0.0  # from the fault until every task was terminal
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class RunningTarget:
    """A `vidpipe dev` running as its own process, seen through its state directory (what Campaign needs of a
    DevStack: URLs, the environment its children get, and a supervision hook that is a no-op here)."""

    supervisor = None

    def __init__(self, state_dir: Path) -> None:
        from vidpipe.localinfra import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
        from vidpipe.statedir import StateDir

        state = StateDir(state_dir)
        running = state.read_running()
        assert running is not None
        self.running = running
        self.gateway_url = running.gateway_url
        self.env = {
            **os.environ,
            "DB_URL": running.postgres_url,
            "AWS_ENDPOINT_URL": running.sqs_url,
            "AWS_S3_ENDPOINT_URL": running.s3_url,
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AUTH_JWT_SECRET": state.load_config().jwt_secret,
        }

    @property
    def settings(self) -> Any:
        from vidpipe.settings import Settings

        with environment(self.env):
            return Settings()

    def supervise(self) -> None:
        return None


class Campaign:
    """One embedded stack and a client; scenarios run one after another on it."""

    def __init__(self, stack: DevStack | RunningTarget, subject: str = "chaos") -> None:
        from vidpipe.tokens import mint_local_token

        self.stack = stack
        self.token = mint_local_token(AuthSettings(jwt_secret=stack.env["AUTH_JWT_SECRET"]), subject)
        self.seen_pids: dict[int, str] = {}
        self._remember_pids()

    # ------------------------------------------------------------------ plumbing

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.gateway_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30.0
        )

    def tick(self, seconds: float = 0.5) -> None:
        """Sleep while the stack keeps supervising its children (the test thread is the supervisor)."""
        deadline = time.monotonic() + seconds
        while True:
            self.stack.supervise()
            self._remember_pids()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.25, left))

    def _remember_pids(self) -> None:
        if self.stack.supervisor is None:
            return
        for child in self.stack.supervisor.children:
            if child.pid:
                self.seen_pids[child.pid] = cmdline(child.pid)
                for grandchild in _children_of(child.pid):
                    self.seen_pids[grandchild] = cmdline(grandchild)

    def submit(self, n: int, path: Path = SAMPLE) -> list[tuple[uuid.UUID, uuid.UUID]]:
        submitted = []
        with self.client() as client:
            for _ in range(n):
                key = self._retry(lambda: upload(client, path, guess_content_type(path)))
                started = self._retry(functools.partial(self._start, client, key))
                submitted.append((uuid.UUID(started["task_id"]), uuid.UUID(started["media_id"])))
        return submitted

    @staticmethod
    def _start(client: httpx.Client, key: str) -> dict[str, Any]:
        return _json(client.post("/api/video/start-processing", json={"object_key": key}))

    def _retry(self, call: Callable[[], Any], budget_s: float = 120.0) -> Any:
        deadline = time.monotonic() + budget_s
        while True:
            try:
                return call()
            except (httpx.HTTPError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                self.tick(1.0)

    def statuses(self, tasks: list[tuple[uuid.UUID, uuid.UUID]]) -> dict[uuid.UUID, dict[str, Any]]:
        found: dict[uuid.UUID, dict[str, Any]] = {}
        with self.client() as client:
            for task_id, _ in tasks:
                with contextlib.suppress(httpx.HTTPError, RuntimeError):
                    found[task_id] = _json(client.get(f"/api/video/status/{task_id}"))
        return found

    def wait_for_stage(
        self, tasks: list[tuple[uuid.UUID, uuid.UUID]], stage: str, timeout_s: float = 600, *, or_later: bool = False
    ) -> bool:
        """Until some task's `stage` is running (a worker holds it): the moment to hit that worker. With
        `or_later`, a task still in flight at any later stage will do too: a fault aimed at the whole pipeline
        (frozen servers, duplicates) must not wait for a stage that a short video passes in 0.2 s, between
        two polls."""
        order = ("moderate", "transcribe", "summarize")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for status in self.statuses(tasks).values():
                runs = {s["stage"]: s for s in status["stages"]}
                if status["current_stage"] == stage and runs.get(stage, {}).get("state") == "running":
                    return True
                later = order[order.index(stage) :]
                if or_later and status["status"] not in TERMINAL and status["current_stage"] in later:
                    return True
            self.tick(0.5)
        return False

    def wait_terminal(self, tasks: list[tuple[uuid.UUID, uuid.UUID]], timeout_s: float) -> dict[uuid.UUID, Any]:
        deadline = time.monotonic() + timeout_s
        statuses: dict[uuid.UUID, Any] = {}
        while time.monotonic() < deadline:
            statuses = self.statuses(tasks)
            if len(statuses) == len(tasks) and all(s["status"] in TERMINAL for s in statuses.values()):
                break
            self.tick(1.0)
        return statuses

    # ------------------------------------------------------------------ faults

    def child_pid(self, name: str) -> int:
        assert isinstance(self.stack, DevStack) and self.stack.supervisor is not None
        pid = self.stack.supervisor.get(name).pid
        assert pid is not None
        return pid

    def signal_child(self, name: str, sig: int) -> None:
        os.kill(self.child_pid(name), sig)

    def freeze(self, name: str, seconds: float) -> None:
        pid = self.child_pid(name)
        os.kill(pid, signal.SIGSTOP)
        try:
            self.tick(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    def duplicate_and_poison(self, rounds: int = 3) -> None:
        """Every unfinished task's current message sent again (`rounds` times, as the reconciler would),
        undecodable bodies dropped on every queue, and a malformed body naming each live task."""
        import asyncio

        from vidpipe.reconciler import reconcile_once

        settings = self.stack.settings
        with environment(self.stack.env):
            for _ in range(rounds):
                asyncio.run(reconcile_once(settings, idle_s=0))
                self.tick(2.0)
            sqs = boto3.client("sqs", region_name=settings.aws.region, endpoint_url=settings.aws.endpoint_url)
            for stage in ("moderate", "transcribe", "summarize"):
                url = sqs.get_queue_url(QueueName=settings.queue_name(stage))["QueueUrl"]
                wrong_shape = json.dumps({"kind": stage, "v": "x"})  # right tag, no task: nothing to fail
                for body in ("not json at all", '{"kind": "no-such-stage"}', wrong_shape):
                    sqs.send_message(QueueUrl=url, MessageBody=body)
            # The attack that once failed healthy tasks: a malformed body naming each live task's current
            # stage. A stage that is queued, running or done must not be failed by it.
            with psycopg.connect(self.stack.env["DB_URL"]) as conn:
                live = conn.execute(
                    "SELECT id, current_stage FROM tasks WHERE status IN ('UPLOAD_COMPLETE', 'PROCESSING')"
                ).fetchall()
            for task_id, stage in live:
                url = sqs.get_queue_url(QueueName=settings.queue_name(stage))["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": stage, "task_id": str(task_id)}))

    # ------------------------------------------------------------------ one scenario

    def run(
        self,
        fault: str,
        inject: Callable[[list[tuple[uuid.UUID, uuid.UUID]]], None],
        *,
        videos: int,
        timeout_s: float = 900,
    ) -> Outcome:
        tasks = self.submit(videos)
        inject(tasks)
        faulted_at = time.monotonic()
        statuses = self.wait_terminal(tasks, timeout_s)
        outcome = Outcome(fault=fault, tasks=len(tasks), recovery_s=round(time.monotonic() - faulted_at, 1))
        self.verify(tasks, statuses, outcome)
        return outcome

    def verify(self, tasks: list[tuple[uuid.UUID, uuid.UUID]], statuses: dict[uuid.UUID, Any], out: Outcome) -> None:
        ids = [t for t, _ in tasks]
        for task_id in ids:
            status = statuses.get(task_id)
            if status is None or status["status"] not in TERMINAL:
                out.lost += 1
            elif status["status"] == "COMPLETED":
                out.completed += 1
            elif status.get("error") and status["error"].get("code") and status["error"].get("message"):
                out.failed_with_reason += 1
                out.notes.append(f"{task_id}: {status['status']} {status['error']['code']}")
            else:
                out.failed_without_reason += 1
        with psycopg.connect(self.stack.env["DB_URL"]) as conn:
            # A stage that did its work twice commits twice: two `completed` events for one (task, stage).
            twice = conn.execute(
                "SELECT count(*) FROM (SELECT task_id, stage FROM task_events WHERE kind = 'completed' "
                "AND task_id = ANY(%s) GROUP BY task_id, stage HAVING count(*) > 1) d",
                (ids,),
            ).fetchone()
            out.duplicated += int(twice[0]) if twice else 0
            for table in ("moderation_results", "transcripts", "summaries"):
                extra = conn.execute(
                    f"SELECT count(*) - count(DISTINCT task_id) FROM {table} WHERE task_id = ANY(%s)",  # noqa: S608
                    (ids,),
                ).fetchone()
                out.duplicated += int(extra[0]) if extra else 0
            completed = [t for t in ids if statuses.get(t, {}).get("status") == "COMPLETED"]
            for table in ("moderation_results", "transcripts", "summaries"):
                have = conn.execute(
                    f"SELECT count(DISTINCT task_id) FROM {table} WHERE task_id = ANY(%s)",  # noqa: S608
                    (completed,),
                ).fetchone()
                if have and int(have[0]) != len(completed):
                    out.notes.append(f"{table}: {have[0]} of {len(completed)} completed tasks have a row")
                    out.lost += len(completed) - int(have[0])
            for task_id in ids:
                rows = conn.execute(
                    "SELECT kind::text, stage::text, attempt FROM task_events WHERE task_id = %s ORDER BY id",
                    (task_id,),
                ).fetchall()
                try:
                    assert_events_in_order([{"kind": k, "stage": st, "attempt": a} for k, st, a in rows])
                except AssertionError as disorder:
                    out.events_out_of_order += 1
                    out.notes.append(f"{task_id}: {disorder}")
        out.stranded_messages = self.stranded_messages()

    def stranded_messages(self, settle_s: float = 20.0) -> int:
        """Messages left on the main queues once everything is terminal (duplicates get deleted on receipt,
        so allow them a moment to be received)."""
        settings = self.stack.settings
        with environment(self.stack.env):
            sqs = boto3.client("sqs", region_name=settings.aws.region, endpoint_url=settings.aws.endpoint_url)
            deadline = time.monotonic() + settle_s
            while True:
                left = 0
                for stage in ("moderate", "transcribe", "summarize"):
                    url = sqs.get_queue_url(QueueName=settings.queue_name(stage))["QueueUrl"]
                    attributes = sqs.get_queue_attributes(
                        QueueUrl=url,
                        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                    )["Attributes"]
                    left += sum(int(v) for v in attributes.values())
                if left == 0 or time.monotonic() > deadline:
                    return left
                self.tick(1.0)

    def orphans(self) -> list[str]:
        """Processes the stack started that still run (call after it stopped)."""
        time.sleep(1.0)
        return [
            f"{pid} {line[:80]}"
            for pid, line in self.seen_pids.items()
            if pid_alive(pid) and line and cmdline(pid) == line
        ]


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.is_success:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    body: dict[str, Any] = response.json()
    return body


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(p) for p in tasks.read_text().split()]
    return found


def start_stack(state_dir: Path, **options: Any) -> DevStack:
    with environment(STACK_ENV):
        stack = DevStack(state_dir=state_dir, echo=bool(os.environ.get("CHAOS_ECHO")), durable=False, **options)
        try:
            stack.start()
        except BaseException:
            stack.stop()
            raise
    return stack


def run_process_cli(stack: DevStack, token: str, path: Path = SAMPLE) -> subprocess.Popen[str]:
    """`vidpipe process` against the stack, as a user runs it (its output captured)."""
    env = {**os.environ, "VIDPIPE_GATEWAY_URL": stack.gateway_url, "VIDPIPE_TOKEN": token, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "vidpipe.cli", "process", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
