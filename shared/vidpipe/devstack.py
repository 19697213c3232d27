"""The embedded stack: PostgreSQL, moto (SQS+S3), migrations, queues, bucket, gateway and the three workers.

Everything runs on 127.0.0.1 as child processes of one command; Ctrl-C (or SIGTERM) stops the workers first
(each finishes or releases its message), then the gateway, moto and PostgreSQL. The cluster and moto's state
are throwaway: a new `vidpipe dev` starts empty. `.vidpipe/dev.json` tells `vidpipe process` where the
gateway is and how to mint a local token.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from vidpipe.db.migrate import apply_migrations
from vidpipe.localinfra import MotoServer, PostgresCluster, free_port
from vidpipe.provision import provision
from vidpipe.settings import STAGES, Settings, Stage

STATE_DIR = Path(".vidpipe")
STATE_FILE_NAME = "dev.json"


@dataclass
class DevStack:
    stages: tuple[Stage, ...] = STAGES
    gateway_port: int = 0
    state_dir: Path = STATE_DIR
    echo: bool = True
    env: dict[str, str] = field(default_factory=dict)
    _children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _pg: PostgresCluster | None = None
    _moto: MotoServer | None = None
    _pg_root: Path | None = None
    _wrote_state: bool = False

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE_NAME

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def say(self, text: str) -> None:
        if self.echo:
            print(text, file=sys.stderr, flush=True)  # noqa: T201 (the command talks to its user)

    def __enter__(self) -> DevStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        # The cluster runs as `postgres`, so it lives in a temp dir that user can reach, not in the checkout.
        self._pg_root = Path(tempfile.mkdtemp(prefix="vidpipe-dev-pg-"))
        self._pg = PostgresCluster(root=self._pg_root)
        self._pg.start()
        database_url = self._pg.create_database("vidpipe")
        self._moto = MotoServer(log_path=logs / "moto.log")
        self._moto.start()
        self.gateway_port = self.gateway_port or free_port()
        secret = secrets.token_urlsafe(32)
        # moto accepts any credentials; dummy ones keep boto from searching for (and using) real ones.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        self.env = {
            **os.environ,
            "DB_URL": database_url,
            "AWS_ENDPOINT_URL": self._moto.url,
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AUTH_JWT_SECRET": secret,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "VIDPIPE_ENVIRONMENT": "local",
        }
        settings = _settings_from(self.env)
        apply_migrations(database_url)
        provision(settings)
        self.say(f"postgres {self._pg.url('vidpipe')}, SQS+S3 {self._moto.url} ready")
        for stage in self.stages:
            self._spawn(f"worker-{stage}", ["worker", stage], logs)
        self._spawn("gateway", ["gateway"], logs)
        self._wait_for_gateway(timeout_s=120)
        self.state_file.write_text(
            json.dumps({"gateway_url": self.gateway_url, "jwt_secret": secret, "pid": os.getpid()})
        )
        self.state_file.chmod(0o600)
        self._wrote_state = True
        self.say(f"vidpipe is serving at {self.gateway_url} (started in {time.monotonic() - started:.1f} s)")
        if self.echo:
            from vidpipe.tokens import mint_local_token

            token = mint_local_token(settings.auth, "local-user")
            self.say(f"open {self.gateway_url}/#token={token} to use the web UI as local-user")
        self.say(f"logs: {logs}/")

    def _spawn(self, name: str, args: list[str], logs: Path) -> None:
        log = (logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "vidpipe.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self._children.append((name, process))

    def _wait_for_gateway(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(f"{self.gateway_url}/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the gateway did not answer on {self.gateway_url} within {timeout_s:.0f} s")

    def check_children(self) -> None:
        """Raise if a child died: a stack missing a worker would silently stall every task."""
        for name, process in self._children:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode}; see {self.state_dir / 'logs' / (name + '.log')}"
                )

    def stop(self) -> None:
        # Workers first (they finish or release their messages), then the gateway, then the services.
        for _, process in self._children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self._children:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in time; killing it")
                process.kill()
        self._children.clear()
        if self._moto:
            self._moto.stop()
        if self._pg:
            self._pg.stop()
        if self._pg_root:
            shutil.rmtree(self._pg_root, ignore_errors=True)
        if self._wrote_state:  # never remove the file of another stack that is still running
            self.state_file.unlink(missing_ok=True)


def _settings_from(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def read_state(state_dir: Path = STATE_DIR) -> dict[str, str] | None:
    """What a running `vidpipe dev` wrote about itself (gateway URL, local token secret), if one runs."""
    path = state_dir / STATE_FILE_NAME
    if not path.exists():
        return None
    state: dict[str, str] = json.loads(path.read_text())
    return state
