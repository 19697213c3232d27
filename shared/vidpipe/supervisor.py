"""Child processes that die with their parent, and a small supervisor that restarts them.

Every process the embedded stack starts asks the kernel (Linux `PR_SET_PDEATHSIG`) for a signal when the
thread that started it exits, so a `vidpipe dev` killed by SIGKILL leaves no Postgres, S3/SQS server,
gateway or worker behind. The signal is set after the child switched user (a uid change clears it), in the
only code that runs between fork and exec; `spawn` must be called from a thread that lives as long as the
child should (the main thread), because the kernel watches the thread, not the process.

Supervision is deliberately small (supervisord and circus are daemons with their own config files and
control sockets, far more than restarting a handful of children of one command): a dead child is logged
and started again after an exponential back-off, reset once it has stayed up for a while. Nothing else in
the stack is touched because a child died.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
# Loaded once here, before any fork: the child then only calls into an already loaded library.
_libc = ctypes.CDLL(None, use_errno=True)


def _death_signal(sig: int) -> Callable[[], None]:
    def set_in_child() -> None:  # pragma: no cover - runs in the child between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig))
        # The parent may have died between fork and prctl: then nobody would ever send the signal.
        if os.getppid() == 1:
            os.kill(os.getpid(), int(sig))

    return set_in_child


def spawn(
    argv: Sequence[str],
    *,
    death_signal: int = signal.SIGKILL,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` so that it receives `death_signal` when this thread exits; output appends to `log`."""
    out: IO[bytes] | int = log.open("ab") if log else subprocess.DEVNULL
    as_user: dict[str, object] = {}
    if user is not None and os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    try:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=_death_signal(death_signal),  # only a prctl call runs between fork and exec
            **as_user,
        )
    finally:
        if not isinstance(out, int):
            out.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (dead, not yet reaped by its parent) is not alive for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def started_at(pid: int) -> float | None:
    """When a process started (epoch seconds), to tell a recorded pid from a later process that reused it."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def terminate(pid: int, *, marker: str, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Stop a leftover process if its command line still contains `marker` (pids are reused)."""
    if not pid_alive(pid) or marker not in cmdline(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def stop_process(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Child:
    """One supervised program: how to start it, and what to do once it runs again."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0
    after_restart: Callable[[], None] | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _started_at: float = 0.0
    _next_start_at: float | None = None
    _failures_in_row: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


@dataclass
class Supervisor:
    """Restarts dead children with back-off (1 s doubling to `max_backoff_s`); `say` receives the log lines."""

    say: Callable[[str], None]
    max_backoff_s: float = 30.0
    stable_after_s: float = 60.0
    children: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        """Supervise `child`, starting it unless it already runs (a server started and waited for)."""
        if child.process is None:
            child.process = child.start()
        child._started_at = time.monotonic()
        self.children.append(child)
        return child

    def get(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def check(self) -> None:
        """One supervision pass: notice deaths, restart what is due. Call every fraction of a second."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if child._next_start_at is None and process is not None and process.poll() is not None:
                up_for = now - child._started_at
                child._failures_in_row = 1 if up_for >= self.stable_after_s else child._failures_in_row + 1
                delay = min(self.max_backoff_s, 2 ** (child._failures_in_row - 1))
                self.say(
                    f"{child.name} (pid {process.pid}) exited with {_describe(process.returncode)} after "
                    f"{up_for:.0f} s; restarting in {delay:.0f} s"
                )
                child._next_start_at = now + delay
            if child._next_start_at is not None and now >= child._next_start_at:
                child._next_start_at = None
                try:
                    child.process = child.start()
                except Exception as error:  # a start that fails is retried like a crash
                    self.say(f"{child.name} could not be started: {error}")
                    child._failures_in_row += 1
                    child._next_start_at = now + min(self.max_backoff_s, 2**child._failures_in_row)
                    continue
                child._started_at = now
                child.restarts += 1
                self.say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
                if child.after_restart is not None:
                    try:
                        child.after_restart()
                    except Exception as error:
                        self.say(f"{child.name}: after-restart step failed: {error}")

    def stop(self, names: Sequence[str] | None = None) -> None:
        """Signal the chosen children (all by default) at once, then wait for each."""
        chosen = [c for c in self.children if names is None or c.name in names]
        for child in chosen:
            child._next_start_at = None
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(child.stop_signal)
        for child in chosen:
            if child.process is not None:
                try:
                    child.process.wait(timeout=child.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self.say(f"{child.name} did not stop within {child.stop_timeout_s:.0f} s; killing it")
                    child.process.kill()
                    child.process.wait(timeout=10)
        self.children = [c for c in self.children if c not in chosen]


def _describe(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
    return f"code {returncode}"
