"""Download one file at image build time, optionally checking its SHA-256 (empty = not checked, warned).

python fetch_file.py URL DEST [SHA256]
"""

import hashlib
import sys
import urllib.request
from pathlib import Path


def main(url: str, dest: str, sha256: str = "") -> int:
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:  # noqa: S310 (https URL from the Dockerfile)
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if sha256 and digest.hexdigest() != sha256.lower():
        target.unlink()
        sys.stderr.write(f"{url}: sha256 {digest.hexdigest()} != expected {sha256}\n")
        return 1
    if not sha256:
        sys.stderr.write(f"warning: {url} not pinned; its sha256 is {digest.hexdigest()}\n")
    target.chmod(0o644)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
