"""Gateway load on the embedded services: status polling by 200 concurrent clients, and upload-url requests/s.

    .venv/bin/python bench/gateway_load.py [--pollers 200] [--seconds 20] [--runs 3]

The gateway runs under uvicorn (one process, as `vidpipe gateway` does) on loopback against a real PostgreSQL
and moto; the load generator is httpx in this process, bounded in time. Prints medians over runs and writes
bench/results/gateway_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from vidpipe.localinfra import free_port, local_services
from vidpipe.logging import configure_logging
from vidpipe.provision import provision
from vidpipe.settings import AuthSettings, AWSSettings, Settings
from vidpipe.tokens import mint_local_token

RESULTS = Path(__file__).parent / "results"
SECRET = "bench-secret-" + "x" * 32


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def hammer(client: httpx.AsyncClient, method: str, path: str, body: Any, stop_at: float, out: list[float]) -> int:
    errors = 0
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        response = await client.request(method, path, json=body)
        out.append((time.perf_counter() - started) * 1000)
        errors += response.status_code >= 400
    return errors


async def load(
    base_url: str, headers: dict[str, str], method: str, path: str, body: Any, clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        stop_at = time.monotonic() + seconds
        started = time.monotonic()
        errors = sum(
            await asyncio.gather(*(hammer(client, method, path, body, stop_at, latencies) for _ in range(clients)))
        )
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


async def load_with_wrk(
    url: str, headers: dict[str, str], clients: int, seconds: float, body: Any = None
) -> dict[str, float]:
    """wrk (C, event-driven) generates the load: a Python client of 200 connections measures itself instead."""
    script = ""
    if body is not None:
        script = (
            f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    args = ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", lua.name]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    output = (await process.communicate())[0].decode()
    Path(lua.name).unlink()  # noqa: ASYNC240 (a local temp file)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)$", output, re.M)
        assert match, output
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert rps, output
    return {
        "rps": float(rps.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "requests": 0,
    }


async def run(env: dict[str, str], pollers: int, seconds: float, runs: int) -> dict[str, Any]:
    port = free_port()
    # The gateway in its own process, as `vidpipe gateway` runs it, so the load generator does not share its loop.
    # One user makes every request here: the per-user rate limit and daily quotas are off to measure raw speed.
    limits = ("WRITE_REQUESTS_PER_MINUTE", "DAILY_UPLOADS", "DAILY_UPLOAD_BYTES")
    unlimited = {f"GATEWAY_{name}": "0" for name in limits}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vidpipe.cli", "gateway", env={**env, **unlimited, "GATEWAY_PORT": str(port)}
    )
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await probe.get(f"{base_url}/health")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
    headers = {"Authorization": f"Bearer {mint_local_token(AuthSettings(jwt_secret=SECRET), 'bench')}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        target = (
            await client.post(
                "/api/video/upload-url", json={"filename": "b.mp4", "content_type": "video/mp4", "size": 5}
            )
        ).json()
        async with httpx.AsyncClient() as s3:
            await s3.put(target["url"], content=b"video", headers={"Content-Type": "video/mp4"})
        task_id = (await client.post("/api/video/start-processing", json={"object_key": target["object_key"]})).json()[
            "task_id"
        ]
    if shutil.which("wrk"):
        status_runs = [
            await load_with_wrk(f"{base_url}/api/video/status/{task_id}", headers, pollers, seconds)
            for _ in range(runs)
        ]
        upload_runs = [
            await load_with_wrk(
                f"{base_url}/api/video/upload-url",
                headers,
                20,
                seconds,
                {"filename": "x.mp4", "content_type": "video/mp4", "size": 1000},
            )
            for _ in range(runs)
        ]
        generator = "wrk"
    else:
        status_runs, upload_runs, generator = await load_with_httpx(base_url, headers, task_id, pollers, seconds, runs)
    server.terminate()
    await server.wait()
    return summarise(status_runs, upload_runs, generator, pollers, seconds, runs)


async def load_with_httpx(
    base_url: str, headers: dict[str, str], task_id: str, pollers: int, seconds: float, runs: int
) -> tuple[list[dict[str, float]], list[dict[str, float]], str]:
    status_runs = [
        await load(base_url, headers, "GET", f"/api/video/status/{task_id}", None, pollers, seconds)
        for _ in range(runs)
    ]
    upload_runs = [
        await load(
            base_url,
            headers,
            "POST",
            "/api/video/upload-url",
            {"filename": "x.mp4", "content_type": "video/mp4", "size": 1000},
            20,
            seconds,
        )
        for _ in range(runs)
    ]
    return status_runs, upload_runs, "httpx"


def summarise(
    status_runs: list[dict[str, float]],
    upload_runs: list[dict[str, float]],
    generator: str,
    pollers: int,
    seconds: float,
    runs: int,
) -> dict[str, Any]:
    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {
        "generator": generator,
        "pollers": pollers,
        "seconds_per_run": seconds,
        "runs": runs,
        "status": {k: median(status_runs, k) for k in ("rps", "p50_ms", "p99_ms")}
        | {"errors": sum(r["errors"] for r in status_runs)},
        "upload_url": {k: median(upload_runs, k) for k in ("rps", "p50_ms", "p99_ms")}
        | {"errors": sum(r["errors"] for r in upload_runs)},
        "raw": {"status": status_runs, "upload_url": upload_runs},
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with local_services("bench") as (url, moto):
        env = {
            **os.environ,
            "DB_URL": url,
            "DB_POOL_MAX_SIZE": "16",
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_BUCKET": "bench",
            "AWS_QUEUE_PREFIX": "bench-",
            "AUTH_JWT_SECRET": SECRET,
            "VIDPIPE_LOG_LEVEL": "WARNING",
        }
        provision(Settings(aws=AWSSettings(endpoint_url=moto.url, bucket="bench", queue_prefix="bench-")))
        result = asyncio.run(run(env, args.pollers, args.seconds, args.runs))
    for name in ("status", "upload_url"):
        r = result[name]
        print(f"{name}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, errors {r['errors']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gateway_load.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
