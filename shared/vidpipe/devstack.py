"""The embedded stack: PostgreSQL, SeaweedFS (S3), moto (SQS), migrations, queues, bucket, the gateway, the
three workers and the sweeper, supervised by one command.

State lives in one directory (`vidpipe.statedir`): the cluster and the objects survive a stop, a crash and
a restart; queues are rebuilt from Postgres by the reconciler at every start. Children are supervised: one
that dies is restarted with back-off, never a reason to stop the stack. Every child dies with the stack,
even when `vidpipe dev` is killed with SIGKILL (`vidpipe.supervisor.spawn`), and a start first cleans up
whatever an earlier, killed run left behind. Ctrl-C (SIGTERM) stops the workers first (each finishes or
releases its message), then the gateway and the sweeper, then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from vidpipe.db.migrate import apply_migrations
from vidpipe.localinfra import (
    LOCAL_ACCESS_KEY,
    LOCAL_SECRET_KEY,
    MotoServer,
    ObjectStore,
    PostgresCluster,
    free_port,
    port_free,
)
from vidpipe.provision import provision
from vidpipe.settings import STAGES, Settings, Stage
from vidpipe.statedir import RunningStack, StateDir, remove_abandoned_clusters
from vidpipe.supervisor import Child, Supervisor, pid_alive, spawn, terminate


class StackAlreadyRunningError(RuntimeError):
    def __init__(self, running: RunningStack | None, state_dir: Path) -> None:
        where = f" (pid {running.pid}) already serves at {running.gateway_url}" if running else " already runs"
        super().__init__(
            f"a vidpipe dev stack{where} from {state_dir}; stop it first, or use another VIDPIPE_STATE_DIR"
        )
        self.running = running


@dataclass
class DevStack:
    stages: tuple[Stage, ...] = STAGES
    gateway_port: int = 0
    state_dir: Path | None = None
    echo: bool = True
    fresh: bool = False  # delete the state directory first
    throwaway: bool = False  # delete the state directory when the stack stops
    durable: bool = True  # fsync on in Postgres (tests may turn it off)
    sweep_every_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    supervisor: Supervisor | None = None
    _state: StateDir | None = None
    _pg: PostgresCluster | None = None
    _objects: ObjectStore | None = None
    _moto: MotoServer | None = None
    _wrote_state: bool = False
    _started_at: float = 0.0
    _lock_fd: int | None = None

    @property
    def state(self) -> StateDir:
        if self._state is None:
            self._state = StateDir(self.state_dir) if self.state_dir else StateDir.default()
        return self._state

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def postgres(self) -> PostgresCluster:
        assert self._pg is not None
        return self._pg

    @property
    def settings(self) -> Settings:
        return _settings_from(self.env)

    def say(self, text: str) -> None:
        if self.echo:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)  # noqa: T201

    def __enter__(self) -> DevStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        started = time.monotonic()
        state = self.state
        self._lock_fd = state.lock()
        if self._lock_fd is None:
            raise StackAlreadyRunningError(state.read_running(), state.root)
        self._clean_leftovers()
        if self.fresh:
            state.remove(keep_lock=True)
        state.prepare()
        config = state.load_config()
        logs = state.logs

        self._pg = PostgresCluster(
            root=state.postgres,
            port=config.postgres_port if port_free(config.postgres_port) else free_port(),
            durable=self.durable,
        )
        self._pg.start()
        database_url = self._pg.create_database("vidpipe")
        self._objects = ObjectStore(root=state.objects, ports=dict(config.s3_ports), log_path=logs / "s3.log")
        self._objects.start()
        self._moto = MotoServer(log_path=logs / "sqs.log")
        self._moto.start()
        wanted = self.gateway_port or config.gateway_port
        self.gateway_port = wanted if port_free(wanted) else free_port()
        config.postgres_port, config.gateway_port = self._pg.port, self.gateway_port
        config.s3_ports = dict(self._objects.ports)
        state.save_config(config)

        self.env = {
            **os.environ,
            "DB_URL": database_url,
            "AWS_ENDPOINT_URL": self._moto.url,
            "AWS_S3_ENDPOINT_URL": self._objects.url,
            # Exactly these keys: the user's real AWS credentials must never reach a local server.
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AUTH_JWT_SECRET": config.jwt_secret,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "VIDPIPE_ENVIRONMENT": "local",
            # Local receivers (a script on this machine) may get webhooks; production refuses private targets.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "VIDPIPE_STATE_DIR": str(state.root),
        }
        for inherited in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            self.env.pop(inherited, None)
        settings = self.settings
        apply_migrations(database_url)
        with _environment(self.env):
            provision(settings)
        self.say(f"postgres {self._pg.url('vidpipe')} (data in {state.postgres})")
        self.say(f"S3 {self._objects.url} (objects in {state.objects}), SQS {self._moto.url}")
        self._requeue_after_restart()

        supervisor = self.supervisor = Supervisor(say=self.say)
        pg, objects, moto = self._pg, self._objects, self._moto
        supervisor.add(_server_child("postgres", pg.start, lambda: pg.process, signal.SIGINT, 60))
        supervisor.add(_server_child("s3", objects.start, lambda: objects.process, signal.SIGTERM, 20))
        moto_child = _server_child("sqs", moto.start, lambda: moto.process, signal.SIGTERM, 10)
        # Queues live in moto's memory: a restarted moto gets them again, and every task its message.
        moto_child.after_restart = self._after_sqs_restart
        supervisor.add(moto_child)
        for stage in self.stages:
            supervisor.add(self._cli_child(f"worker-{stage}", ["worker", stage], stop_timeout_s=60))
        supervisor.add(self._cli_child("sweeper", ["sweep", "--every", str(self.sweep_every_s)], stop_timeout_s=15))
        supervisor.add(self._cli_child("gateway", ["gateway"], stop_timeout_s=15))
        self._wait_for_gateway(timeout_s=120)
        self._started_at = time.time()
        self.write_running()
        self.say(f"vidpipe is serving at {self.gateway_url} (started in {time.monotonic() - started:.1f} s)")
        if self.echo:
            from vidpipe.tokens import mint_local_token

            token = mint_local_token(settings.auth, "local-user")
            self.say(f"open {self.gateway_url}/#token={token} to use the web UI as local-user")
        self.say(f"state: {state.root}   logs: {logs}/")

    def _cli_child(self, name: str, args: list[str], *, stop_timeout_s: float) -> Child:
        log = self.state.logs / f"{name}.log"

        def start() -> subprocess.Popen[bytes]:
            # `python -m vidpipe.cli worker <stage>`: operators and checks find each worker by that.
            return spawn([sys.executable, "-m", "vidpipe.cli", *args], env=self.env, log=log)

        return Child(name=name, start=start, stop_timeout_s=stop_timeout_s)

    def _clean_leftovers(self) -> None:
        """A stack killed without cleanup (SIGKILL, a power cut) left its state file and maybe processes:
        stop what is left, carry on. Called holding the directory's lock, so no live stack wrote that file."""
        running = self.state.read_running()
        if running is not None:
            stopped = [
                name
                for name, pid in running.children.items()
                if pid_alive(pid) and terminate(pid, marker=_MARKERS.get(name.split("-")[0], "vidpipe"))
            ]
            self.say(
                f"an earlier stack (pid {running.pid}) ended without cleaning up"
                + (f"; stopped its leftover {', '.join(stopped)}" if stopped else "")
            )
            self.state.running_file.unlink(missing_ok=True)
        for removed in remove_abandoned_clusters():
            self.say(f"removed abandoned cluster {removed}")

    def _requeue_after_restart(self) -> None:
        """No worker runs yet and the queues are new: every unfinished task gets its message again."""
        from vidpipe.reconciler import reconcile_once

        with _environment(self.env):
            report = asyncio.run(reconcile_once(self.settings, idle_s=0, after_restart=True))
        if report.resent or report.failed or report.released_claims:
            self.say(f"unfinished work from before: {report.summary()}")

    def _after_sqs_restart(self) -> None:
        from vidpipe.reconciler import reconcile_once

        with _environment(self.env):
            provision(self.settings)
            report = asyncio.run(reconcile_once(self.settings, idle_s=0))
        self.say(f"queues recreated; {report.summary()}")

    def write_running(self) -> None:
        assert self._pg is not None and self._objects is not None and self._moto is not None
        children = {c.name: c.pid for c in (self.supervisor.children if self.supervisor else []) if c.pid}
        self.state.write_running(
            RunningStack(
                pid=os.getpid(),
                gateway_url=self.gateway_url,
                postgres_url=self._pg.url("vidpipe"),
                s3_url=self._objects.url,
                sqs_url=self._moto.url,
                children=children,
                started_at=self._started_at,
            )
        )
        self._wrote_state = True

    def _wait_for_gateway(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.supervise()
            try:
                with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the gateway did not answer on {self.gateway_url} within {timeout_s:.0f} s")

    # ------------------------------------------------------------------ run

    def supervise(self) -> None:
        """One supervision pass (restart what died); `vidpipe dev` calls this twice a second."""
        if self.supervisor is None:
            return
        before = {c.name: c.pid for c in self.supervisor.children}
        self.supervisor.check()
        if self._wrote_state and before != {c.name: c.pid for c in self.supervisor.children}:
            self.write_running()

    def check_children(self) -> None:
        """Kept for callers of the old API: supervision replaces the check."""
        self.supervise()

    def restart_postgres(self) -> None:
        """Stop and start the cluster on the same port (a fault to recover from, for the chaos tests)."""
        assert self.supervisor is not None
        child = self.supervisor.get("postgres")
        self.postgres.stop()
        self.postgres.start()
        child.process = self.postgres.process

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        if self.supervisor is not None:
            # Workers first (they finish or release their messages), then the rest, then the servers.
            self.supervisor.stop([f"worker-{stage}" for stage in self.stages])
            self.supervisor.stop(["gateway", "sweeper"])
            self.supervisor.stop(["sqs", "s3"])
            self.supervisor.stop()
        for server in (self._moto, self._objects):
            if server is not None:
                server.stop()
        if self._pg is not None:
            self._pg.stop()
        if self._wrote_state:  # never remove the file of another stack that is still running
            self.state.running_file.unlink(missing_ok=True)
        if self._lock_fd is not None:
            if self.throwaway:
                self.state.remove()
            os.close(self._lock_fd)
            self._lock_fd = None


# What each kind of leftover child's command line contains, so a reused pid is never signalled.
_MARKERS = {"postgres": "postgres", "s3": "weed", "sqs": "moto", "worker": "vidpipe.cli", "gateway": "vidpipe.cli"}
_MARKERS["sweeper"] = "vidpipe.cli"


def _server_child(
    name: str,
    start: Callable[[], None],
    process: Callable[[], subprocess.Popen[bytes] | None],
    stop_signal: int,
    stop_timeout_s: float,
) -> Child:
    """A server its own class already started, handed to the supervisor, which restarts it the same way."""

    def restart() -> subprocess.Popen[bytes]:
        start()
        started = process()
        assert started is not None
        return started

    return Child(name=name, start=restart, process=process(), stop_signal=stop_signal, stop_timeout_s=stop_timeout_s)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """This process acting as one of the stack's children (same endpoints and local credentials) for a while."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _settings_from(env: dict[str, str]) -> Settings:
    with _environment(env):
        return Settings()


def read_state(state_dir: Path | None = None) -> RunningStack | None:
    """The running `vidpipe dev` of this user's state directory, if one runs (found from any directory)."""
    state = StateDir(state_dir) if state_dir else StateDir.default()
    running = state.read_running()
    return running if running is not None and running.alive else None
