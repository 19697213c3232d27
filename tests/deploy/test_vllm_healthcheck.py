"""The vLLM image's health check probes the port vLLM serves on, wherever that is (8000 in compose, 8001 in
Terraform), because the HEALTHCHECK URL takes the port from VIDPIPE_VLLM_PORT, which both set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def vllm_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def vllm_stage() -> str:
    text = (REPO / "docker" / "summarizer.Dockerfile").read_text()
    return text[text.index(" AS vllm") : text.index(" AS base")]


def healthcheck(env_port: int) -> int:
    """Run the vllm stage's HEALTHCHECK command as Docker would (exec form, the image's ENV, the port set)."""
    command = json.loads(re.search(r"HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])", vllm_stage()).group(1))  # type: ignore[union-attr]
    assert command[:2] == ["python3", "/usr/local/lib/vidpipe/healthcheck.py"]
    script = REPO / "docker" / "healthcheck.py"
    env = {**os.environ, "VIDPIPE_VLLM_PORT": str(env_port)}
    return subprocess.run([sys.executable, str(script), *command[2:]], env=env, timeout=30).returncode


def test_the_health_check_follows_the_serving_port(vllm_port: int) -> None:
    assert "ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VIDPIPE_VLLM_PORT=8000" in vllm_stage()
    assert healthcheck(vllm_port) == 0
    assert healthcheck(vllm_port + 1 if vllm_port < 65535 else vllm_port - 1) == 1


def test_terraform_serves_vllm_on_the_port_it_tells_the_health_check() -> None:
    main = (REPO / "terraform" / "main.tf").read_text()
    assert "VIDPIPE_VLLM_PORT = tostring(local.vllm_port)" in main
    assert '"--port", tostring(local.vllm_port)' in main
    assert 'SUMMARIZER_BASE_URL       = "http://127.0.0.1:${local.vllm_port}/v1"' in main
