"""Container health checks without curl in the image.

healthcheck.py http URL     healthy when URL answers 2xx within 4 s (gateway /health, vLLM /health); $VARS in
                            URL are expanded (HEALTHCHECK's exec form does not), e.g. the vLLM port
healthcheck.py worker       healthy when PID 1 is a `vidpipe worker` process and, if the worker keeps
                            WORKER_HEARTBEAT_FILE fresh, that file changed in the last
                            WORKER_HEARTBEAT_MAX_AGE_S seconds (default 300)
"""

import os
import sys
import time
import urllib.request
from pathlib import Path


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (loopback URL from the image)
            return 200 <= response.status < 300
    except OSError:
        return False


def worker_ok() -> bool:
    cmdline = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    if b"worker" not in cmdline:
        return False
    heartbeat = os.environ.get("WORKER_HEARTBEAT_FILE")
    if not heartbeat:
        return True
    max_age = float(os.environ.get("WORKER_HEARTBEAT_MAX_AGE_S", "300"))
    try:
        return time.time() - Path(heartbeat).stat().st_mtime < max_age
    except FileNotFoundError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        return 0 if http_ok(os.path.expandvars(argv[1])) else 1
    if argv == ["worker"]:
        return 0 if worker_ok() else 1
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
