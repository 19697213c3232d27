"""Fuzz every route from the gateway's own OpenAPI schema (schemathesis): no input may cause a 5xx."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from vidpipe.settings import Settings

from .conftest import auth, running_gateway

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_no_generated_request_causes_a_server_error(settings: Settings) -> None:
    async with running_gateway(settings) as base_url:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{base_url}/schema/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization:{auth('fuzzer')['Authorization']}",
            "--max-examples", "25", "--seed", "1", "--generation-deterministic",
            "--request-timeout", "20", "--suppress-health-check", "all",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    # The run covered every operation and its fuzzing phase found nothing
    selected = re.search(r"Operations:\s+(\d+) selected / (\d+) total", report)
    assert selected and selected.group(1) == selected.group(2) and int(selected.group(1)) >= 20, report
    assert re.search(r"Fuzzing \(in [\d.]+s\)\s+✅ \d+ passed", report), report
