"""Write `.env.example` from the settings classes, so it can never drift from them.

.venv/bin/python scripts/env_example.py            # rewrite .env.example
.venv/bin/python scripts/env_example.py --check    # exit 1 if it is out of date (a unit test runs this)
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from vidpipe.settings import Settings
from vidpipe_moderator.settings import ModeratorSettings
from vidpipe_summarizer.settings import SummarizerSettings
from vidpipe_transcriber.settings import TranscriberSettings

TARGET = Path(__file__).resolve().parents[1] / ".env.example"
HEADER = """\
# vidpipe configuration: every variable with its default, generated from the settings classes
# (shared/vidpipe/settings.py and services/*/vidpipe_*/settings.py) by scripts/env_example.py.
# Secrets come from the environment only.

# Read by the set-up, the summarizer's build and the embedded stack, not settings fields:
# VIDPIPE_CACHE_DIR=~/.cache/vidpipe   (built llama-server, assembled weights)
# VIDPIPE_STATE_DIR=~/.local/share/vidpipe   (the embedded stack's database, objects, logs, local token secret;
#                                             /var/lib/vidpipe as root)
"""


def _value(default: Any, annotation: Any) -> str:
    if annotation is SecretStr or isinstance(default, SecretStr) or "SecretStr" in str(annotation):
        return "<secret>" if default is None or isinstance(default, SecretStr) else ""
    if default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, tuple | list):
        return ",".join(str(v) for v in default) if all(isinstance(v, str) for v in default) else json.dumps(default)
    if isinstance(default, dict | BaseModel):
        return json.dumps(default if isinstance(default, dict) else default.model_dump(mode="json"))
    return str(default)


def _fields(cls: type[BaseSettings], prefix: str) -> list[str]:
    lines: list[str] = []
    for name, field in cls.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            continue  # a nested group, written on its own
        default = field.get_default(call_default_factory=True)
        if field.description:
            lines.append(f"# {field.description}")
        lines.append(f"# {prefix}{name.upper()}={_value(default, field.annotation)}")
    return lines


def render() -> str:
    blocks = [HEADER, "\n".join(_fields(Settings, "VIDPIPE_")) + "\n"]
    groups: list[type[BaseSettings]] = [
        *(
            f.annotation
            for f in Settings.model_fields.values()
            if isinstance(f.annotation, type) and issubclass(f.annotation, BaseSettings)
        ),
        ModeratorSettings,
        TranscriberSettings,
        SummarizerSettings,
    ]
    for cls in groups:
        prefix = str(cls.model_config.get("env_prefix", ""))
        blocks.append(f"# --- {cls.__name__} ({prefix}*)\n" + "\n".join(_fields(cls, prefix)) + "\n")
    return "\n".join(blocks)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if TARGET.read_text(encoding="utf-8") != text:
            sys.stderr.write(".env.example is out of date: run `.venv/bin/python scripts/env_example.py`\n")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
