"""Print the project's dependencies (and those of some extras) from pyproject.toml, one per line.

Images install dependencies in their own cache-friendly layer before the source is copied in, so a code
change does not reinstall them. `--exclude NAME` drops a requirement (the GPU transcriber brings its own
CUDA torch through whisperx instead of the CPU torch the transcriber extra pins).

    python docker/pyproject_deps.py --extra gateway > /tmp/requirements.txt
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyproject", default="pyproject.toml")
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    args = parser.parse_args()
    project = tomllib.loads(Path(args.pyproject).read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in args.extra:
        requirements += project["optional-dependencies"][extra]
    excluded = {name.lower() for name in args.exclude}
    for requirement in requirements:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
        if name not in excluded:
            sys.stdout.write(requirement + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
