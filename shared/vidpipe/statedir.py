"""The embedded stack's state directory: everything a local user made, in one place that survives restarts.

    <state>/
      stack.json     ports and the local token secret, chosen once (0600): URLs and tokens stay valid
      running.json   written while a `vidpipe dev` runs: its pid, its children's pids, the gateway URL
      postgres/      the PostgreSQL cluster (owned by the `postgres` user when run as root)
      objects/       the object store's files (SeaweedFS: uploads, extracted audio)
      logs/          one log per process

Where: `VIDPIPE_STATE_DIR`, else `$XDG_DATA_HOME/vidpipe` (`~/.local/share/vidpipe`); as root
`/var/lib/vidpipe`, because the cluster runs as `postgres`, which cannot reach into `/root`. The running
stack is found through this directory from any working directory. Back up by stopping the stack and copying
the directory (or `pg_dump` plus `objects/`); `vidpipe reset` deletes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import msgspec

from vidpipe.settings import StateSettings
from vidpipe.supervisor import pid_alive, started_at


def default_state_dir() -> Path:
    if configured := StateSettings().state_dir:
        return Path(configured).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/vidpipe")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "vidpipe"


class StackConfig(msgspec.Struct, kw_only=True):
    """Chosen at the first start and kept, so the gateway URL and minted tokens survive a restart."""

    jwt_secret: str
    gateway_port: int = 0
    postgres_port: int = 0
    s3_ports: dict[str, int] = msgspec.field(default_factory=dict)


class RunningStack(msgspec.Struct, kw_only=True):
    """What a live `vidpipe dev` says about itself."""

    pid: int
    gateway_url: str
    postgres_url: str
    s3_url: str
    sqs_url: str
    children: dict[str, int] = msgspec.field(default_factory=dict)
    started_at: float = 0.0

    @property
    def alive(self) -> bool:
        """The stack that wrote this still runs (not merely some later process with the same pid)."""
        if not pid_alive(self.pid):
            return False
        began = started_at(self.pid)
        return began is None or began <= self.started_at + 1.0


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def default(cls) -> StateDir:
        return cls(default_state_dir())

    @property
    def config_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def running_file(self) -> Path:
        return self.root / "running.json"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def postgres(self) -> Path:
        """The cluster's directory. As root it must be reachable by `postgres`: if this state directory
        sits below a private one (a root-only temp dir, say), the cluster lives beside it in the system temp
        dir under a name derived from this path, and `reset` removes it too."""
        inside = self.root / "postgres"
        if os.geteuid() != 0 or _reachable_by_postgres(self.root):
            return inside
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"vidpipe-pg-{digest}"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.objects.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Traversable (not listable) by the `postgres` user, which owns the cluster inside.
            self.root.chmod(0o711)
        marker = self.postgres / "vidpipe-state-dir"
        if self.postgres != self.root / "postgres":
            self.postgres.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(self.root.resolve()))

    def load_config(self) -> StackConfig:
        if self.config_file.exists():
            return msgspec.json.decode(self.config_file.read_bytes(), type=StackConfig)
        config = StackConfig(jwt_secret=secrets.token_urlsafe(32))
        self.save_config(config)
        return config

    def save_config(self, config: StackConfig) -> None:
        _write_private(self.config_file, msgspec.json.encode(config))

    def read_running(self) -> RunningStack | None:
        try:
            return msgspec.json.decode(self.running_file.read_bytes(), type=RunningStack)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def write_running(self, running: RunningStack) -> None:
        _write_private(self.running_file, msgspec.json.encode(running))

    def jwt_secret(self) -> str | None:
        """The local token secret, whether or not the stack runs right now (tokens survive restarts)."""
        try:
            return msgspec.json.decode(self.config_file.read_bytes(), type=StackConfig).jwt_secret
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def lock(self) -> int | None:
        """Take the state directory for one stack (an flock the kernel drops when the process dies, however it
        dies); returns the descriptor to keep open, or None if another live stack holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def remove(self, *, keep_lock: bool = False) -> None:
        """Delete everything this state directory holds (the caller made sure nothing runs)."""
        pg = self.postgres
        if pg != self.root / "postgres":
            shutil.rmtree(pg, ignore_errors=True)
        if not keep_lock:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for entry in self.root.iterdir() if self.root.exists() else ():
            if entry != self.lock_file:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def remove_abandoned_clusters() -> list[Path]:
    """Side clusters (see `StateDir.postgres`) whose state directory is gone: leftovers of throwaway runs."""
    removed = []
    for candidate in Path(tempfile.gettempdir()).glob("vidpipe-pg-*"):
        marker = candidate / "vidpipe-state-dir"
        with contextlib.suppress(OSError):
            owner = Path(marker.read_text().strip())
            pid_file = candidate / "data" / "postmaster.pid"
            postmaster_running = pid_file.exists() and pid_alive(int(pid_file.read_text().split()[0]))
            if not owner.exists() and not postmaster_running:
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
    return removed


def _reachable_by_postgres(path: Path) -> bool:
    """Whether every directory down to `path` lets others (the `postgres` user) pass through."""
    try:
        pg_uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return True
    current = path.resolve()
    for directory in [*reversed(current.parents), current]:
        if not directory.exists():
            break
        info = directory.stat()
        if info.st_uid != pg_uid and not info.st_mode & 0o001:
            return directory == current  # our own root is made traversable by `prepare`
    return True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)
