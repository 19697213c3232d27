"""The local engine: a llama-server subprocess on loopback that this process owns, spoken to with the same
HTTP client as production vLLM.

The worker needs nothing else running: the server is started on a free 127.0.0.1 port when the engine is
loaded, health-checked, restarted if it dies between jobs, and killed on close (and by the kernel if this
process dies first, via PR_SET_PDEATHSIG), so no orphaned 2 GB model server outlives its worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Any

import httpx

from vidpipe_summarizer.llm import Completion, OpenAICompatibleBackend

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
    ) -> None:
        self.binary = binary
        self.model_path = model_path
        self.alias = alias
        self.context_tokens = context_tokens
        self.threads = threads
        self.startup_timeout_s = startup_timeout_s
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
            "--host", "127.0.0.1",
            "--port", str(self.port),
            # The host-RAM prompt cache defaults to 8 GiB; our prompts are never repeated across jobs.
            "--cache-ram", "0",
            "--no-webui",
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


class LocalLlamaBackend:
    """LlmBackend served by an owned llama-server: exact token counts from its /tokenize endpoint."""

    def __init__(
        self,
        server: LlamaServerProcess,
        *,
        request_timeout_s: float,
        http_retries: int,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.server = server
        self._extra_body = extra_body
        self._request_timeout_s = request_timeout_s
        self._http_retries = http_retries
        self._lock = threading.Lock()
        self._client: OpenAICompatibleBackend | None = None
        self._connect()

    def _connect(self) -> None:
        if not self.server.is_running():
            self.server.start()
        if self._client is not None:
            self._client.close()
        self._client = OpenAICompatibleBackend(
            base_url=f"{self.server.base_url}/v1",
            model=self.server.alias,
            context_tokens=self.server.context_tokens,
            request_timeout_s=self._request_timeout_s,
            http_retries=self._http_retries,
            http_backoff_s=0.2,
            extra_body=self._extra_body,
        )

    def _live_client(self) -> OpenAICompatibleBackend:
        # A server that crashed (e.g. killed for memory) between jobs is replaced rather than failing forever.
        with self._lock:
            if self._client is None or not self.server.is_running():
                self.server.stop()
                self._connect()
            assert self._client is not None
            return self._client

    @property
    def model_name(self) -> str:
        return self.server.alias

    @property
    def context_tokens(self) -> int:
        return self.server.context_tokens

    def count_tokens(self, text: str) -> int:
        # Absolute URL: /tokenize sits at the server root, outside the client's /v1 base.
        response = self._live_client().post(f"{self.server.base_url}/tokenize", {"content": text})
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
    ) -> Completion:
        return self._live_client().complete_json(
            messages,
            schema_name=schema_name,
            schema=schema,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            self.server.stop()
