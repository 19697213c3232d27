"""Keep secrets out of the gateway's logs: presigned-URL signatures and tokens passed in a query string.

structlog lines go through `redact_event`; uvicorn's own loggers (access lines carry the query string of the
live-status route, which may hold `access_token`) through `RedactingFilter`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_PARAMS = re.compile(
    r"((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|access_token)=)[^&\s\"'<>]+",
    re.IGNORECASE,
)
# A token on its own (e.g. in an error message): three base64url parts, the first a JSON header.
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+")


def redact(text: str) -> str:
    return _JWT.sub("[jwt]", _SECRET_PARAMS.sub(r"\1[redacted]", text))


def redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def install_log_redaction() -> None:
    """Idempotent: add the structlog processor and the uvicorn filters once per process."""
    processors = list(structlog.get_config()["processors"])
    if redact_event not in processors:
        # Just before the renderer, so bound context and formatted exceptions are covered too.
        structlog.configure(processors=[*processors[:-1], redact_event, *processors[-1:]])
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
