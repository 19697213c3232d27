"""The local engine: a llama-server subprocess on loopback that this process owns, spoken to with the same
HTTP client as production vLLM.

The worker needs nothing else running: the server is started on a free 127.0.0.1 port when the engine is
loaded, health-checked, restarted if it dies between jobs, and killed on close (and by the kernel if this
process dies first, via PR_SET_PDEATHSIG), so no orphaned 2 GB model server outlives its worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx
import structlog

from vidpipe.errors import StageError
from vidpipe_summarizer.llm import Completion, GenerationProgress, OpenAICompatibleBackend

log = structlog.get_logger("vidpipe.summarizer")

_PR_SET_PDEATHSIG = 1


class LlamaServerError(RuntimeError):
    """llama-server could not be started: a set-up problem of this machine, not of any job's input."""


# Loaded before any fork, so the child only calls into an already loaded library.
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # SIGKILL, not SIGTERM: llama-server handles SIGTERM slowly (it finishes the request it is generating),
    # so a SIGKILLed worker's model server would otherwise hold its gigabytes for a while as an orphan.
    with contextlib.suppress(OSError, AttributeError):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    log.close()


class LlamaServerProcess:
    """One running llama-server. `start()` returns once `/health` answers 200."""

    def __init__(
        self,
        *,
        binary: Path,
        model_path: Path,
        alias: str,
        context_tokens: int,
        threads: int,
        startup_timeout_s: float,
        draft_model_path: Path | None = None,
        draft_max_tokens: int = 8,
        prompt_state_dir: Path | None = None,
    ) -> None:
        self.binary = binary
        self.model_path = model_path
        self.alias = alias
        self.context_tokens = context_tokens
        self.threads = threads
        self.startup_timeout_s = startup_timeout_s
        self.draft_model_path = draft_model_path
        self.draft_max_tokens = draft_max_tokens
        self.prompt_state_dir = prompt_state_dir
        """Where the server may save and restore its slot's KV cache (`--slot-save-path`); None: it cannot."""
        self.port = 0
        self.load_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes], IO[bytes]], LlamaServerProcess] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--model", str(self.model_path),
            "--alias", self.alias,
            "--ctx-size", str(self.context_tokens),
            # One slot: a worker handles one job at a time, and the whole context goes to that job.
            "--parallel", "1",
            "--threads", str(self.threads),
            # Reading the prompt (big batched matrix products) uses every core whatever the policy chose for
            # generation: measured on 2 cores with a neighbour busy, 2 batch threads read 15 tok/s against
            # 2.8-3.6 with 1; it is one token at a time that collapses at the barrier.
            "--threads-batch", str(max(self.threads, cpu_cores())),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            # The host-RAM prompt cache defaults to 8 GiB; our prompts are never repeated across jobs.
            "--cache-ram", "0",
            # Measured side by side on this 2-core AVX2 CPU with the 1.5B (bench/pipeline.py's prompt):
            # without repacking the weights at load, prompt reading ran 47-52 tok/s against 36-37 and the
            # server was healthy 1.3 s sooner; generation was unchanged. The warm-up decode only pre-faults
            # pages a request faults in anyway (start 1.7 s instead of 3-5 s).
            "--no-repack",
            "--no-warmup",
            "--no-webui",
            *self._slot_args(),
            *self._draft_args(),
        ]  # fmt: skip

    def _slot_args(self) -> list[str]:
        return [] if self.prompt_state_dir is None else ["--slot-save-path", str(self.prompt_state_dir)]

    def _prepare_prompt_state_dir(self) -> None:
        """llama-server refuses to start with a `--slot-save-path` that is not a directory."""
        if self.prompt_state_dir is None:
            return
        try:
            self.prompt_state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            # A read-only cache costs each start its system prompt, nothing else.
            log.warning("prompt state directory unusable", path=str(self.prompt_state_dir), error=str(exc))
            self.prompt_state_dir = None

    def _draft_args(self) -> list[str]:
        if self.draft_model_path is None:
            return []
        # Speculative decoding: the small model of the same tokenizer family proposes up to draft_max
        # tokens, the big one checks them in one batch; the output is the big model's greedy choice.
        return [
            "--spec-type", "draft-simple",  # without it (default `none`) the draft model is loaded but unused
            "--model-draft", str(self.draft_model_path),
            "--threads-draft", str(self.threads),
            "--spec-draft-n-max", str(self.draft_max_tokens),
            "--spec-draft-n-min", "1",
        ]  # fmt: skip

    def start(self) -> None:
        if not self.binary.is_file():
            raise LlamaServerError(
                f"llama-server binary not found at {self.binary}; build it with "
                "`python -m vidpipe_summarizer.build server` or set SUMMARIZER_LLAMA_SERVER_BINARY"
            )
        if not self.model_path.is_file():
            raise LlamaServerError(
                f"model {self.model_path} not found; run `python -m vidpipe_summarizer.build weights`"
            )
        self._prepare_prompt_state_dir()
        # Two tries: the free port may be taken between probing it and the server binding it.
        for attempt in range(2):
            try:
                self._start_once()
                return
            except LlamaServerError:
                self.stop()
                if attempt:
                    raise

    def _start_once(self) -> None:
        self.port = _free_loopback_port()
        started = time.monotonic()
        # A file, not a pipe: nobody reads the server's chatter while it runs, and a full pipe would block it.
        self._log = tempfile.TemporaryFile(prefix="llama-server-", suffix=".log")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            # Only a prctl call runs between fork and exec: no locks, so safe despite threads.
            preexec_fn=_die_with_parent,
        )
        self._finalizer = weakref.finalize(self, _stop, self._process, self._log)
        deadline = started + self.startup_timeout_s
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise LlamaServerError(
                        f"llama-server exited with code {self._process.returncode}: {self.log_tail()}"
                    )
                try:
                    if http.get(f"{self.base_url}/health").status_code == 200:
                        self.load_seconds = time.monotonic() - started
                        log.info(
                            "llama-server started",
                            model=self.alias,
                            draft=self.draft_model_path.name if self.draft_model_path else None,
                            threads=self.threads,
                            context_tokens=self.context_tokens,
                            start_s=round(self.load_seconds, 2),
                            pid=self.pid,
                        )
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise LlamaServerError(f"llama-server not healthy after {self.startup_timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        if self._log is None or self._log.closed:
            return ""
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - chars))
        return self._log.read().decode("utf-8", "replace")

    def peak_rss_bytes(self) -> int | None:
        """VmHWM of the server process (Linux), for benchmarks and capacity planning."""
        if not self.is_running():
            return None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # runs _stop once; later calls and garbage collection do nothing
        self._process = None
        self._log = None


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0))


def _cpu_ticks(exclude: Iterable[int] = ()) -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot from /proc/stat, less the CPU time of the
    `exclude` processes (ours: a server's threads may still spin for a moment after answering)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    own = 0
    for pid in exclude:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            own += int(stat[11]) + int(stat[12])  # utime + stime (fields 14, 15)
    return total - idle - own, total


def busy_cores(sample_s: float = 0.3, exclude: Iterable[int] = ()) -> float:
    """Cores' worth of CPU the rest of the machine is using right now (measured over `sample_s`).

    /proc/stat, not the load average: the 1-minute average still shows a transcription that ended seconds
    ago, which is exactly when the summary starts and both cores are free.
    """
    pids = list(exclude)
    busy_a, total_a = _cpu_ticks(pids)
    time.sleep(sample_s)
    busy_b, total_b = _cpu_ticks(pids)
    if total_b <= total_a:
        return 0.0
    return max(0.0, (busy_b - busy_a) / (total_b - total_a) * cpu_cores())


class ThreadPolicy:
    """How many llama.cpp threads a request gets: a fixed number, or `auto` = the cores free right now.

    llama.cpp's threads meet at a spinning barrier after every layer, so one thread more than the free cores
    does not add a little speed, it collapses it (1.5B on this 2-core machine with a busy neighbour: 2 threads
    ~1 tok/s, 1 thread ~5). `auto` therefore rounds down: a core counts as free only when less than 0.4 of it
    is in use, and at least one thread always runs. A decision is reused for `reuse_s` (the server start and
    the first request of a one-shot run must not pick different counts and start two servers).
    """

    def __init__(self, setting: int | str, *, sample_s: float = 0.3, reuse_s: float = 5.0) -> None:
        self.fixed = int(setting) if str(setting) != "auto" else None
        self.sample_s = sample_s
        self.reuse_s = reuse_s
        self._last: tuple[float, int] | None = None

    def threads(self, exclude: Iterable[int] = ()) -> int:
        if self.fixed is not None:
            return self.fixed
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.reuse_s:
            return self._last[1]
        cores = cpu_cores()
        free = cores - busy_cores(self.sample_s, exclude)
        chosen = max(1, min(cores, int(free + 0.4)))
        self._last = (time.monotonic(), chosen)
        return chosen


class LocalLlamaBackend:
    """LlmBackend served by owned llama-server processes: exact token counts from its /tokenize endpoint.

    llama-server fixes its thread count at start, so the thread policy is applied per request by choosing
    between servers started (lazily) with different counts. They share the model file's pages (mmap), so a
    second one costs only its KV cache and compute buffers (measured 0.35-0.8 GB anonymous memory beside
    the 1.1 GB of shared file pages for the 1.5B), not another copy of the weights.
    """

    def __init__(
        self,
        server: LlamaServerProcess,
        *,
        request_timeout_s: float,
        http_retries: int,
        extra_body: dict[str, Any] | None = None,
        thread_policy: ThreadPolicy | None = None,
    ) -> None:
        self.server = server
        """The server of the first request's thread count (the one started at load)."""
        self._extra_body = extra_body
        self._request_timeout_s = request_timeout_s
        self._http_retries = http_retries
        self._policy = thread_policy or ThreadPolicy(server.threads)
        self._lock = threading.Lock()
        self._servers: dict[int, LlamaServerProcess] = {server.threads: server}
        self._clients: dict[int, OpenAICompatibleBackend] = {}
        self.last_threads = server.threads
        self._system_prompt: str | None = None
        self._primed: set[int | None] = set()
        """Server processes (by pid) whose slot has had the system prompt put in."""
        with self._lock:
            self._connect(server.threads)

    def _server_for(self, threads: int) -> LlamaServerProcess:
        if threads not in self._servers:
            template = self.server
            self._servers[threads] = LlamaServerProcess(
                binary=template.binary,
                model_path=template.model_path,
                alias=template.alias,
                context_tokens=template.context_tokens,
                threads=threads,
                startup_timeout_s=template.startup_timeout_s,
                draft_model_path=template.draft_model_path,
                draft_max_tokens=template.draft_max_tokens,
                prompt_state_dir=template.prompt_state_dir,
            )
        return self._servers[threads]

    def _connect(self, threads: int) -> OpenAICompatibleBackend:
        server = self._server_for(threads)
        if not server.is_running():
            server.start()
        if (old := self._clients.pop(threads, None)) is not None:
            old.close()
        client = OpenAICompatibleBackend(
            base_url=f"{server.base_url}/v1",
            model=server.alias,
            context_tokens=server.context_tokens,
            request_timeout_s=self._request_timeout_s,
            http_retries=self._http_retries,
            http_backoff_s=0.2,
            extra_body=self._extra_body,
        )
        self._clients[threads] = client
        self._prime(client, server)
        return client

    def _live_client(self, threads: int | None = None) -> tuple[OpenAICompatibleBackend, LlamaServerProcess]:
        # A server that crashed (e.g. killed for memory) between jobs is replaced rather than failing forever.
        with self._lock:
            if threads is None:  # any running server will do (tokenizing)
                threads = next((t for t, srv in self._servers.items() if srv.is_running()), self.server.threads)
            server = self._server_for(threads)
            client = self._clients.get(threads)
            if client is None or not server.is_running():
                server.stop()
                client = self._connect(threads)
            return client, server

    @property
    def model_name(self) -> str:
        return self.server.alias

    @property
    def context_tokens(self) -> int:
        return self.server.context_tokens

    @property
    def servers(self) -> list[LlamaServerProcess]:
        return list(self._servers.values())

    def count_tokens(self, text: str) -> int:
        client, server = self._live_client()
        # Absolute URL: /tokenize sits at the server root, outside the client's /v1 base.
        response = client.post(f"{server.base_url}/tokenize", {"content": text})
        return len(response.json()["tokens"])

    def complete_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int,
        temperature: float,
        seed: int,
        progress: GenerationProgress | None = None,
    ) -> Completion:
        threads = self._policy.threads(exclude=[srv.pid for srv in self._servers.values() if srv.pid])
        self.last_threads = threads
        client, _server = self._live_client(threads)
        return client.complete_json(
            messages,
            schema_name=schema_name,
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            progress=progress,
        )

    def warm(self, system_prompt: str, *, every_server: bool = True) -> None:
        """Have the system prompt in the prompt cache before the first job, so a job reads only its own text.

        `every_server` (a long-lived worker): start a server for every thread count the policy may pick and
        prime each. Otherwise (a one-shot run) only the server running now is primed: starting a second one
        would cost more than it saves. Servers the policy starts later are primed when they start.
        """
        self._system_prompt = system_prompt
        if every_server:
            counts = [self._policy.fixed] if self._policy.fixed is not None else list(range(1, cpu_cores() + 1))
        else:
            counts = [t for t, server in self._servers.items() if server.is_running()] or [self.server.threads]
        for threads in counts:
            client, server = self._live_client(threads)
            if server.pid not in self._primed:
                self._prime(client, server)

    def _prime(self, client: OpenAICompatibleBackend, server: LlamaServerProcess) -> None:
        """Put the system prompt's KV cache into the server's slot: restored from disk when a previous run
        saved it for this model, binary and prompt (milliseconds), else read (about 6 s for the 1.5B on two
        cores) and saved for the next run. Any failure here only costs speed: the request reads the prompt."""
        prompt = self._system_prompt
        if prompt is None:
            return
        self._primed.add(server.pid)
        started = time.monotonic()
        state = prompt_state_file(server, prompt)
        if state is not None and state.is_file():
            try:
                client.post(f"{server.base_url}/slots/0?action=restore", {"filename": state.name})
                log.info("llama-server prompt restored", threads=server.threads, wall_s=_since(started))
                return
            except StageError as exc:  # a stale or torn file: read the prompt instead
                log.warning("llama-server prompt restore failed", file=state.name, error=str(exc))
        try:
            client.post(
                "chat/completions",
                {
                    "messages": [{"role": "system", "content": prompt}],
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "cache_prompt": True,
                },
            )
        except StageError as exc:  # the job's own request will meet the same trouble, and say so
            log.warning("llama-server not warmed", threads=server.threads, error=str(exc))
            return
        log.info("llama-server warmed", threads=server.threads, wall_s=_since(started))
        if state is not None:
            _save_prompt_state(client, server, state)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            for server in self._servers.values():
                server.stop()


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def prompt_state_file(server: LlamaServerProcess, prompt: str) -> Path | None:
    """The saved KV cache of `prompt` for this server's model and binary, or None when saving is off.

    The name pins everything the state depends on: the model file, the server build (a rebuilt binary may
    lay the cache out differently) and the prompt's exact text; a change of any of them is a miss, never a
    wrong restore.
    """
    if server.prompt_state_dir is None:
        return None
    identity = "\n".join(
        [
            server.model_path.name,
            *(str(value) for path in (server.model_path, server.binary) for value in _file_identity(path)),
            prompt,
        ]
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return server.prompt_state_dir / f"{server.model_path.stem}.{digest}.bin"


def _file_identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _save_prompt_state(client: OpenAICompatibleBackend, server: LlamaServerProcess, state: Path) -> None:
    """Save the slot under a temporary name and rename it into place, so a concurrent restore never reads a
    half-written file; older states of the same model are removed (one prompt is in use at a time)."""
    temporary = state.with_name(f"{state.stem}.{os.getpid()}.tmp")
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        client.post(f"{server.base_url}/slots/0?action=save", {"filename": temporary.name})
        temporary.replace(state)
        for old in state.parent.glob(f"{server.model_path.stem}.*.bin"):
            if old != state:
                old.unlink(missing_ok=True)
    except (StageError, OSError) as exc:  # a read-only cache only costs the next run its prompt
        temporary.unlink(missing_ok=True)
        log.warning("llama-server prompt state not saved", file=state.name, error=str(exc))
