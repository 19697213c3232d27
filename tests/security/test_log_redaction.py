"""Presigned URLs and tokens never reach a gateway log line in full (moto's own log is out of our hands)."""

from __future__ import annotations

import logging

from vidpipe_gateway.redaction import RedactingFilter, redact

PRESIGNED = (
    "http://127.0.0.1:5000/bucket/uploads/u/m/a.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
    "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef"
)
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


def test_signatures_credentials_and_tokens_are_redacted() -> None:
    text = redact(f"PUT {PRESIGNED} failed; GET /api/video/status/x/events?access_token={TOKEN} bearer {TOKEN}")
    assert "0123456789abcdef" not in text and "AKIAEXAMPLE" not in text and TOKEN not in text
    assert "X-Amz-Expires=900" in text  # what is not secret stays readable


def test_uvicorn_access_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", f"/api/video/status/x/events?access_token={TOKEN}", "1.1", 200), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage() and "access_token=[redacted]" in record.getMessage()
